//! `tally`: a counter service on 127.0.0.1.
//!
//! `tally --port PORT --state PATH` serves plain HTTP/1.1:
//!
//! - `GET /healthz`: 200 once the count is loaded.
//! - `POST /add`: adds one to the count, writes it to PATH (a new file
//!   renamed over the old one, synced first) and returns the new count.
//! - `GET /count`: the count.
//!
//! `tally add PORT N` sends N additions to the tally on 127.0.0.1:PORT
//! and fails unless each one is acknowledged. `tally check PATH MIN` exits
//! 0 when the count in PATH is at least MIN, so a chaos experiment can
//! verify that no acknowledged addition was lost.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn read_count(path: &Path) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(0)
}

fn write_count(path: &Path, count: u64) -> std::io::Result<()> {
    let temp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&temp)?;
    writeln!(file, "{count}")?;
    file.sync_all()?;
    std::fs::rename(&temp, path)
}

fn answer(stream: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn handle(mut stream: TcpStream, state: &Path, count: &mut u64) -> std::io::Result<()> {
    let mut request_line = String::new();
    let mut reader = BufReader::new(stream.try_clone()?);
    reader.read_line(&mut request_line)?;
    // Headers end at the first empty line; no request here has a body.
    let mut header = String::new();
    while reader.read_line(&mut header)? > 2 {
        header.clear();
    }
    let mut parts = request_line.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some("GET"), Some("/healthz")) => answer(&mut stream, "200 OK", "ok\n"),
        (Some("GET"), Some("/count")) => answer(&mut stream, "200 OK", &format!("{count}\n")),
        (Some("POST"), Some("/add")) => {
            write_count(state, *count + 1)?;
            *count += 1;
            answer(&mut stream, "200 OK", &format!("{count}\n"))
        }
        _ => answer(&mut stream, "404 Not Found", "not found\n"),
    }
}

/// Sends one `POST /add` to the tally on 127.0.0.1:`port`.
fn add(port: u16) -> std::io::Result<()> {
    use std::io::Read;
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    write!(stream, "POST /add HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    if answer.starts_with("HTTP/1.1 200") {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "unexpected response: {}",
            answer.lines().next().unwrap_or("none")
        )))
    }
}

fn serve(port: u16, state: PathBuf) -> std::io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    let mut count = read_count(&state);
    println!("tally listening on 127.0.0.1:{port} with count {count}");
    for stream in listener.incoming() {
        if let Err(err) = stream.and_then(|stream| handle(stream, &state, &mut count)) {
            eprintln!("request failed: {err}");
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["--port", port, "--state", state] => match port.parse() {
            Ok(port) => match serve(port, PathBuf::from(state)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("error: {err}");
                    ExitCode::FAILURE
                }
            },
            Err(_) => {
                eprintln!("error: `{port}` is not a port number");
                ExitCode::from(2)
            }
        },
        ["add", port, n] => match (port.parse::<u16>(), n.parse::<u32>()) {
            (Ok(port), Ok(n)) => match (0..n).try_for_each(|_| add(port)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("error: an addition was not acknowledged: {err}");
                    ExitCode::FAILURE
                }
            },
            _ => {
                eprintln!("error: give a port and a whole number");
                ExitCode::from(2)
            }
        },
        ["check", state, min] => {
            let count = read_count(Path::new(state));
            match min.parse::<u64>() {
                Ok(min) if count >= min => {
                    println!("count {count} >= {min}");
                    ExitCode::SUCCESS
                }
                Ok(min) => {
                    println!("count {count} < {min}: acknowledged additions were lost");
                    ExitCode::FAILURE
                }
                Err(_) => {
                    eprintln!("error: `{min}` is not a whole number");
                    ExitCode::from(2)
                }
            }
        }
        _ => {
            eprintln!(
                "usage: tally --port PORT --state PATH | tally add PORT N | tally check PATH MIN"
            );
            ExitCode::from(2)
        }
    }
}
