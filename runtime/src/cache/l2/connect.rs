//! Opening a connection to one Redis node, bounded, with a cause a person
//! can act on when it fails.

use redis::aio::MultiplexedConnection;

use super::client::RedisClient;

impl RedisClient {
    /// A new connection through `client`, bounded; the cause if none.
    pub(super) async fn connect(
        &self,
        client: &redis::Client,
    ) -> Result<MultiplexedConnection, String> {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout()))
            .set_response_timeout(Some(self.timeout()));
        match tokio::time::timeout(
            self.timeout() * 2,
            client.get_multiplexed_async_connection_with_config(&config),
        )
        .await
        {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(err)) => {
                let auth = err.kind() == redis::ErrorKind::AuthenticationFailed
                    || matches!(err.code(), Some("WRONGPASS" | "NOAUTH"));
                Err(if auth {
                    format!("authentication failed (check the credentials in REDIS_URL): {err}")
                } else {
                    format!("cannot connect: {err}")
                })
            }
            Err(_) => Err(format!(
                "no answer within {:?} while connecting",
                self.timeout() * 2
            )),
        }
    }
}
