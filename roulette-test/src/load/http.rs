//! The HTTP requests of a load, sent with reqwest over pooled keep-alive
//! connections, as a typical client sends them.

use std::error::Error as _;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::RequestOutcome;
use super::generator::{Plan, Transport};

/// A load with every placeholder expanded.
#[derive(Clone, Debug)]
pub struct HttpLoad {
    pub method: reqwest::Method,
    pub url: reqwest::Url,
    pub headers: HeaderMap,
    pub body: Option<String>,
    /// The expected status; `None` accepts any 2xx status.
    pub status: Option<u16>,
    pub per_second: f64,
    pub timeout: Duration,
    pub max_in_flight: u32,
    client: reqwest::Client,
}

impl HttpLoad {
    /// Builds a load from expanded values. Fails with a message when a
    /// value is invalid.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: Option<String>,
        status: Option<u16>,
        per_second: f64,
        timeout: Duration,
        max_in_flight: u32,
    ) -> Result<HttpLoad, String> {
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| format!("invalid HTTP method `{method}`"))?;
        let url =
            reqwest::Url::parse(url).map_err(|err| format!("invalid load URL `{url}`: {err}"))?;
        let mut header_map = HeaderMap::new();
        for (name, value) in headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("invalid header name `{name}`"))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| format!("invalid value of header `{name}`"))?;
            header_map.insert(name, value);
        }
        // A redirect could lead off this machine, so a 3xx response is an
        // outcome like any other status and is never followed.
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(max_in_flight as usize)
            .build()
            .map_err(|err| format!("failed to build the HTTP client: {err}"))?;
        Ok(HttpLoad {
            method,
            url,
            headers: header_map,
            body,
            status,
            per_second,
            timeout,
            max_in_flight,
            client,
        })
    }

    /// Returns the schedule of this load.
    pub(super) fn plan(&self, max_duration: Duration) -> Plan {
        Plan {
            per_second: self.per_second,
            timeout: self.timeout,
            max_in_flight: self.max_in_flight as usize,
            max_duration,
        }
    }

    fn expected(&self, status: u16) -> bool {
        match self.status {
            Some(expected) => status == expected,
            None => (200..300).contains(&status),
        }
    }
}

impl Transport for HttpLoad {
    async fn send(&self) -> (RequestOutcome, Option<String>) {
        let mut request = self
            .client
            .request(self.method.clone(), self.url.clone())
            .headers(self.headers.clone());
        if let Some(body) = &self.body {
            request = request.body(body.clone());
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(err) => return classify(&err),
        };
        let status = response.status().as_u16();
        // The response ends with its body, so read it to the end.
        if let Err(err) = response.bytes().await {
            return classify(&err);
        }
        if self.expected(status) {
            (RequestOutcome::Ok { status }, None)
        } else {
            (RequestOutcome::Status(status), None)
        }
    }
}

/// Sorts an error into an outcome, looking through its chain of causes
/// for the I/O error underneath.
fn classify(err: &reqwest::Error) -> (RequestOutcome, Option<String>) {
    if err.is_timeout() {
        return (RequestOutcome::Timeout, None);
    }
    let mut source = err.source();
    let mut chain = vec![err.to_string()];
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind;
            match io.kind() {
                ErrorKind::ConnectionRefused => return (RequestOutcome::ConnectionRefused, None),
                ErrorKind::ConnectionReset
                | ErrorKind::ConnectionAborted
                | ErrorKind::BrokenPipe
                | ErrorKind::UnexpectedEof => return (RequestOutcome::ConnectionClosed, None),
                _ => {}
            }
        }
        chain.push(cause.to_string());
        source = cause.source();
    }
    // hyper reports a connection that closed before the response was
    // complete without an I/O error underneath.
    let text = chain.join(": ");
    if text.contains("connection closed") || text.contains("before message completed") {
        return (RequestOutcome::ConnectionClosed, None);
    }
    (RequestOutcome::Other, Some(text))
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    fn load_to(url: &str, status: Option<u16>) -> HttpLoad {
        HttpLoad::new(
            "GET",
            url,
            &[],
            None,
            status,
            10.0,
            Duration::from_secs(2),
            4,
        )
        .unwrap()
    }

    /// Accepts one connection on 127.0.0.1, reads the request and writes
    /// `response`, then closes the connection.
    async fn serve_once(response: &'static [u8]) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buffer = [0u8; 4096];
            let _ = stream.read(&mut buffer).await;
            let _ = stream.write_all(response).await;
        });
        format!("http://{address}/work")
    }

    #[tokio::test]
    async fn expected_status_is_ok() {
        let url = serve_once(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\ndone").await;
        let (outcome, _) = load_to(&url, None).send().await;
        assert_eq!(outcome, RequestOutcome::Ok { status: 200 });
    }

    #[tokio::test]
    async fn other_status_is_counted() {
        let url =
            serve_once(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n").await;
        let (outcome, _) = load_to(&url, None).send().await;
        assert_eq!(outcome, RequestOutcome::Status(503));
        let url = serve_once(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await;
        let (outcome, _) = load_to(&url, Some(201)).send().await;
        assert_eq!(outcome, RequestOutcome::Status(200));
    }

    #[tokio::test]
    async fn redirect_not_followed() {
        // Port 1 on loopback: were the redirect followed, the outcome
        // would be a refused connection instead of the 302.
        let url = serve_once(
            b"HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:1/\r\ncontent-length: 0\r\n\r\n",
        )
        .await;
        let (outcome, _) = load_to(&url, None).send().await;
        assert_eq!(outcome, RequestOutcome::Status(302));
    }

    #[tokio::test]
    async fn closed_port_is_refused() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        let (outcome, message) = load_to(&format!("http://{address}/"), None).send().await;
        assert_eq!(outcome, RequestOutcome::ConnectionRefused, "{message:?}");
    }

    #[tokio::test]
    async fn cut_response_is_closed() {
        let url = serve_once(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial").await;
        let (outcome, message) = load_to(&url, None).send().await;
        assert_eq!(outcome, RequestOutcome::ConnectionClosed, "{message:?}");
        let url = serve_once(b"").await;
        let (outcome, message) = load_to(&url, None).send().await;
        assert_eq!(outcome, RequestOutcome::ConnectionClosed, "{message:?}");
    }
}
