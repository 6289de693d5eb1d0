//! The stores that writes go to: one write per id and one listing of every
//! stored id, over HTTP, the redis protocol, the PostgreSQL protocol or a
//! command.

use std::path::PathBuf;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::resp::{self, Reply};
use crate::command;
use crate::spec::WriteDriver;

/// A write that the store did not acknowledge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteError {
    /// A short kind, such as `connection refused`, for counting.
    pub kind: String,
    pub message: String,
}

impl WriteError {
    fn new(kind: &str, message: impl Into<String>) -> Self {
        WriteError {
            kind: kind.to_owned(),
            message: message.into(),
        }
    }

    /// Classifies an I/O or client error by its message.
    fn from_message(message: String) -> Self {
        let lower = message.to_lowercase();
        let kind = if lower.contains("refused") {
            "connection refused"
        } else if lower.contains("timed out") || lower.contains("timeout") {
            "timed out"
        } else if lower.contains("reset")
            || lower.contains("closed")
            || lower.contains("broken pipe")
            || lower.contains("eof")
            || lower.contains("terminat")
        {
            "connection lost"
        } else {
            "failed"
        };
        WriteError::new(kind, message)
    }
}

/// One store, with its connection when it keeps one.
pub enum Store {
    Http {
        client: reqwest::Client,
        url: String,
        list_url: String,
    },
    Redis {
        address: String,
        key: String,
        connection: Option<resp::Connection>,
    },
    Postgres(Box<PostgresStore>),
    Exec {
        write: Vec<String>,
        list: Vec<String>,
        cwd: PathBuf,
        marker: String,
        timeout: Duration,
        list_timeout: Duration,
    },
}

/// A PostgreSQL table that receives one row per write.
pub struct PostgresStore {
    config: tokio_postgres::Config,
    address: String,
    table: String,
    client: Option<(tokio_postgres::Client, JoinHandle<()>)>,
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        if let Some((_, connection)) = self.client.take() {
            connection.abort();
        }
    }
}

impl Store {
    /// Builds the store for `driver`, whose placeholders are expanded.
    /// `cwd` and `marker` are for `exec` commands.
    pub fn new(
        driver: &WriteDriver,
        timeout: Duration,
        list_timeout: Duration,
        cwd: PathBuf,
        marker: String,
    ) -> Result<Self, String> {
        Ok(match driver {
            WriteDriver::Http { url, list_url } => Store::Http {
                client: reqwest::Client::builder()
                    .timeout(timeout)
                    // A new connection per request: a pooled one to a killed
                    // incarnation would fail writes that never reached the
                    // new one.
                    .pool_max_idle_per_host(0)
                    .no_proxy()
                    // A redirect could lead the writes off this machine.
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .map_err(|err| format!("failed to build the HTTP client: {err}"))?,
                url: url.clone(),
                list_url: list_url.clone(),
            },
            WriteDriver::Redis { address, key } => Store::Redis {
                address: address.clone(),
                key: key.clone(),
                connection: None,
            },
            WriteDriver::Postgres {
                address,
                user,
                password,
                database,
                table,
            } => {
                let (host, port) = split_address(address)?;
                let mut config = tokio_postgres::Config::new();
                config
                    .host(host)
                    .port(port)
                    .user(user)
                    .dbname(database)
                    .application_name("roulette-writes")
                    .connect_timeout(timeout);
                if let Some(password) = password {
                    config.password(password);
                }
                Store::Postgres(Box::new(PostgresStore {
                    config,
                    address: address.clone(),
                    table: table.clone(),
                    client: None,
                }))
            }
            WriteDriver::Exec { write, list } => Store::Exec {
                write: write.clone(),
                list: list.clone(),
                cwd,
                marker,
                timeout,
                list_timeout,
            },
        })
    }

    /// Describes the store in a few words, for reports.
    pub fn describe(&self) -> String {
        match self {
            Store::Http { url, list_url, .. } => format!("http POST {url}, GET {list_url}"),
            Store::Redis { address, key, .. } => format!("redis {address} list `{key}`"),
            Store::Postgres(store) => {
                format!("postgres {} table `{}`", store.address, store.table)
            }
            Store::Exec { write, list, .. } => {
                format!("exec `{}` ID, list `{}`", write.join(" "), list.join(" "))
            }
        }
    }

    /// Writes `id`. `Ok` means the store acknowledged it.
    pub async fn write(&mut self, id: &str) -> Result<(), WriteError> {
        match self {
            Store::Http { client, url, .. } => {
                let response = client
                    .post(url.as_str())
                    .header("content-type", "text/plain")
                    .body(id.to_owned())
                    .send()
                    .await
                    .map_err(|err| {
                        if err.is_timeout() {
                            WriteError::new("timed out", format!("POST {url} timed out"))
                        } else {
                            WriteError::from_message(format!(
                                "POST {url} failed: {}",
                                crate::probe::error_chain(&err)
                            ))
                        }
                    })?;
                let status = response.status();
                if status.is_success() {
                    Ok(())
                } else {
                    Err(WriteError::new(
                        &format!("HTTP {}", status.as_u16()),
                        format!("POST {url} answered {status}"),
                    ))
                }
            }
            Store::Redis {
                address,
                key,
                connection,
            } => {
                if connection.is_none() {
                    let connected = resp::Connection::connect(address).await.map_err(|err| {
                        WriteError::from_message(format!("connect to {address} failed: {err}"))
                    })?;
                    *connection = Some(connected);
                }
                let open = connection.as_mut().expect("connected above");
                match open
                    .command(&[b"RPUSH", key.as_bytes(), id.as_bytes()])
                    .await
                {
                    Ok(Reply::Integer(_)) => Ok(()),
                    Ok(Reply::Error(message)) => {
                        Err(WriteError::new("rejected", format!("RPUSH: {message}")))
                    }
                    Ok(other) => {
                        *connection = None;
                        Err(WriteError::new(
                            "failed",
                            format!("RPUSH returned {other:?}, expected an integer"),
                        ))
                    }
                    Err(err) => {
                        *connection = None;
                        Err(WriteError::from_message(format!("RPUSH failed: {err}")))
                    }
                }
            }
            Store::Postgres(store) => store.write(id).await,
            Store::Exec {
                write,
                cwd,
                marker,
                timeout,
                ..
            } => {
                let mut argv = write.clone();
                argv.push(id.to_owned());
                let output = command::run_marked(&argv, cwd, *timeout, Some(marker))
                    .await
                    .map_err(|err| WriteError::new("not started", err.to_string()))?;
                if output.success() {
                    return Ok(());
                }
                let outcome = output.describe(*timeout);
                let last = output.tail(1).pop().unwrap_or_default();
                let kind = if output.status.is_none() {
                    "timed out"
                } else {
                    "command failed"
                };
                Err(WriteError::new(
                    kind,
                    format!("`{}` ended with {outcome} {last}", argv.join(" "))
                        .trim_end()
                        .to_owned(),
                ))
            }
        }
    }

    /// Lists every stored id, in the store's order, duplicates included.
    pub async fn list(&mut self) -> Result<Vec<String>, String> {
        match self {
            Store::Http {
                client, list_url, ..
            } => {
                let response = client.get(list_url.as_str()).send().await.map_err(|err| {
                    format!("GET {list_url} failed: {}", crate::probe::error_chain(&err))
                })?;
                let status = response.status();
                if !status.is_success() {
                    return Err(format!("GET {list_url} answered {status}"));
                }
                let body = response.text().await.map_err(|err| {
                    format!("GET {list_url} failed: {}", crate::probe::error_chain(&err))
                })?;
                Ok(lines(&body))
            }
            Store::Redis { address, key, .. } => {
                let mut connection = resp::Connection::connect(address)
                    .await
                    .map_err(|err| format!("connect to {address} failed: {err}"))?;
                let reply = connection
                    .command(&[b"LRANGE", key.as_bytes(), b"0", b"-1"])
                    .await
                    .map_err(|err| format!("LRANGE {key} failed: {err}"))?;
                match reply {
                    Reply::Array(Some(elements)) => elements
                        .into_iter()
                        .map(|element| match element {
                            Reply::Bulk(Some(bytes)) => {
                                Ok(String::from_utf8_lossy(&bytes).into_owned())
                            }
                            other => Err(format!(
                                "LRANGE {key} returned an element {other:?}, expected a bulk string"
                            )),
                        })
                        .collect(),
                    Reply::Error(message) => Err(format!("LRANGE {key} failed: {message}")),
                    other => Err(format!(
                        "LRANGE {key} returned {other:?}, expected an array"
                    )),
                }
            }
            Store::Postgres(store) => store.list().await,
            Store::Exec {
                list,
                cwd,
                marker,
                list_timeout,
                ..
            } => {
                let output = command::run_marked(list, cwd, *list_timeout, Some(marker))
                    .await
                    .map_err(|err| err.to_string())?;
                if !output.success() {
                    let tail = output.tail(3).join(" | ");
                    return Err(format!(
                        "`{}` ended with {}: {tail}",
                        list.join(" "),
                        output.describe(*list_timeout)
                    ));
                }
                if output.stdout.len() >= command::OUTPUT_LIMIT {
                    return Err(format!(
                        "`{}` printed 64 KiB or more, and the harness keeps only the last 64 KiB of a command's output, so ids may be missing; lower `spec.writes.count` or use another driver",
                        list.join(" ")
                    ));
                }
                Ok(lines(&output.stdout))
            }
        }
    }
}

impl PostgresStore {
    /// Connects when no open connection exists, and creates the table.
    async fn connect(&mut self) -> Result<&tokio_postgres::Client, WriteError> {
        let open = self
            .client
            .as_ref()
            .is_some_and(|(client, _)| !client.is_closed());
        if !open {
            if let Some((_, connection)) = self.client.take() {
                connection.abort();
            }
            let (client, connection) = self
                .config
                .connect(tokio_postgres::NoTls)
                .await
                .map_err(|err| postgres_error("connect", &self.address, &err))?;
            let connection = tokio::spawn(async move {
                let _ = connection.await;
            });
            self.client = Some((client, connection));
            let client = &self.client.as_ref().expect("set above").0;
            client
                .batch_execute(&format!(
                    "CREATE TABLE IF NOT EXISTS {} (id text NOT NULL)",
                    self.table
                ))
                .await
                .map_err(|err| postgres_error("CREATE TABLE", &self.address, &err))?;
        }
        Ok(&self.client.as_ref().expect("connected").0)
    }

    async fn write(&mut self, id: &str) -> Result<(), WriteError> {
        let statement = format!("INSERT INTO {} (id) VALUES ($1)", self.table);
        let address = self.address.clone();
        let result = match self.connect().await {
            Ok(client) => client
                .execute(statement.as_str(), &[&id])
                .await
                .map(|_| ())
                .map_err(|err| postgres_error("INSERT", &address, &err)),
            Err(err) => Err(err),
        };
        if result.is_err()
            && let Some((_, connection)) = self.client.take()
        {
            connection.abort();
        }
        result
    }

    async fn list(&mut self) -> Result<Vec<String>, String> {
        let (client, connection) = self
            .config
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(|err| postgres_error("connect", &self.address, &err).message)?;
        let connection = tokio::spawn(async move {
            let _ = connection.await;
        });
        let rows = client
            .query(format!("SELECT id FROM {}", self.table).as_str(), &[])
            .await;
        drop(client);
        let _ = connection.await;
        match rows {
            Ok(rows) => Ok(rows.iter().map(|row| row.get::<_, String>(0)).collect()),
            // No write created the table, so no id is stored.
            Err(err) if err.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) => {
                Ok(Vec::new())
            }
            Err(err) => Err(postgres_error("SELECT", &self.address, &err).message),
        }
    }
}

fn postgres_error(what: &str, address: &str, err: &tokio_postgres::Error) -> WriteError {
    let message = match err.as_db_error() {
        Some(db) => format!(
            "{what} on {address} failed: {}: {}",
            db.severity(),
            db.message()
        ),
        None => format!(
            "{what} on {address} failed: {}",
            crate::probe::error_chain(err)
        ),
    };
    if err.as_db_error().is_some() {
        WriteError::new("rejected", message)
    } else {
        WriteError::from_message(message)
    }
}

/// Splits `HOST:PORT`, with brackets around an IPv6 host.
fn split_address(address: &str) -> Result<(&str, u16), String> {
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| format!("address `{address}` has no port"))?;
    let port = port
        .parse()
        .map_err(|_| format!("address `{address}` has an invalid port `{port}`"))?;
    Ok((host.trim_start_matches('[').trim_end_matches(']'), port))
}

/// Returns the non-empty lines of `text`, trimmed.
fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_errors() {
        let kind = |message: &str| WriteError::from_message(message.to_owned()).kind;
        assert_eq!(
            kind("connect failed: Connection refused (os error 111)"),
            "connection refused"
        );
        assert_eq!(
            kind("RPUSH failed: Connection reset by peer"),
            "connection lost"
        );
        assert_eq!(kind("the server closed the connection"), "connection lost");
        assert_eq!(kind("operation timed out"), "timed out");
        assert_eq!(kind("something else"), "failed");
    }

    #[test]
    fn splits_addresses() {
        assert_eq!(split_address("127.0.0.1:5432"), Ok(("127.0.0.1", 5432)));
        assert_eq!(split_address("[::1]:6379"), Ok(("::1", 6379)));
        assert!(split_address("127.0.0.1:x").is_err());
    }
}
