//! A minimal RESP2 client: enough of the redis protocol to send one
//! command and read its reply, over one TCP connection.

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// The maximum length of a reply line (a status, an error or a length).
const MAX_LINE: usize = 64 * 1024;
/// The largest bulk string accepted, in bytes.
const MAX_BULK: usize = 1024 * 1024;
/// The maximum number of elements in an array reply.
const MAX_ARRAY: usize = 10_000_000;

/// One reply of the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Integer(i64),
    /// `None` for the null bulk string.
    Bulk(Option<Vec<u8>>),
    /// `None` for the null array. Nested arrays are not read.
    Array(Option<Vec<Reply>>),
}

/// One connection to a redis server.
pub struct Connection {
    stream: BufReader<TcpStream>,
}

impl Connection {
    /// Connects to `address` (`HOST:PORT`).
    pub async fn connect(address: &str) -> std::io::Result<Self> {
        let stream = TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream: BufReader::new(stream),
        })
    }

    /// Sends one command and reads its reply.
    pub async fn command(&mut self, args: &[&[u8]]) -> std::io::Result<Reply> {
        self.stream.get_mut().write_all(&encode(args)).await?;
        self.read_reply(true).await
    }

    async fn read_line(&mut self) -> std::io::Result<String> {
        let mut line = Vec::new();
        let read = (&mut self.stream)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut line)
            .await?;
        if read == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        if !line.ends_with(b"\r\n") {
            return Err(invalid("a reply line without CRLF, or longer than 64 KiB"));
        }
        line.truncate(line.len() - 2);
        String::from_utf8(line).map_err(|_| invalid("a reply line that is not UTF-8"))
    }

    async fn read_reply(&mut self, allow_array: bool) -> std::io::Result<Reply> {
        let line = self.read_line().await?;
        let (kind, rest) = line.split_at(line.len().min(1));
        match kind {
            "+" => Ok(Reply::Simple(rest.to_owned())),
            "-" => Ok(Reply::Error(rest.to_owned())),
            ":" => rest
                .parse()
                .map(Reply::Integer)
                .map_err(|_| invalid("an integer reply that is not a number")),
            "$" => {
                let length: i64 = rest
                    .parse()
                    .map_err(|_| invalid("a bulk length that is not a number"))?;
                if length < 0 {
                    return Ok(Reply::Bulk(None));
                }
                let length = length as usize;
                if length > MAX_BULK {
                    return Err(invalid("a bulk string above 1 MiB"));
                }
                let mut data = vec![0u8; length + 2];
                self.stream.read_exact(&mut data).await?;
                if !data.ends_with(b"\r\n") {
                    return Err(invalid("a bulk string without its CRLF"));
                }
                data.truncate(length);
                Ok(Reply::Bulk(Some(data)))
            }
            "*" if allow_array => {
                let length: i64 = rest
                    .parse()
                    .map_err(|_| invalid("an array length that is not a number"))?;
                if length < 0 {
                    return Ok(Reply::Array(None));
                }
                let length = length as usize;
                if length > MAX_ARRAY {
                    return Err(invalid("an array of more than 10,000,000 elements"));
                }
                let mut elements = Vec::with_capacity(length.min(65_536));
                for _ in 0..length {
                    elements.push(Box::pin(self.read_reply(false)).await?);
                }
                Ok(Reply::Array(Some(elements)))
            }
            _ => Err(invalid("a reply of an unknown or nested type")),
        }
    }
}

/// Encodes a command as a RESP array of bulk strings.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn invalid(what: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("invalid redis reply: {what}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[test]
    fn encodes_bulk_strings() {
        assert_eq!(
            encode(&[b"RPUSH", b"k", b"id-1"]),
            b"*3\r\n$5\r\nRPUSH\r\n$1\r\nk\r\n$4\r\nid-1\r\n".to_vec()
        );
    }

    /// Serves `reply` to one command on a loopback port and returns what
    /// the client parsed.
    async fn parse(reply: &'static [u8]) -> std::io::Result<Reply> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buffer = [0u8; 256];
            let _ = socket.read(&mut buffer).await.unwrap();
            socket.write_all(reply).await.unwrap();
        });
        let mut connection = Connection::connect(&address).await.unwrap();
        let parsed = connection.command(&[b"PING"]).await;
        server.await.unwrap();
        parsed
    }

    #[tokio::test]
    async fn parses_replies() {
        assert_eq!(parse(b":12\r\n").await.unwrap(), Reply::Integer(12));
        assert_eq!(
            parse(b"-ERR wrong\r\n").await.unwrap(),
            Reply::Error("ERR wrong".into())
        );
        assert_eq!(
            parse(b"*2\r\n$2\r\nab\r\n$-1\r\n").await.unwrap(),
            Reply::Array(Some(vec![
                Reply::Bulk(Some(b"ab".to_vec())),
                Reply::Bulk(None)
            ]))
        );
        assert_eq!(parse(b"*0\r\n").await.unwrap(), Reply::Array(Some(vec![])));
        assert!(parse(b"?what\r\n").await.is_err());
        assert!(parse(b"").await.is_err());
    }
}
