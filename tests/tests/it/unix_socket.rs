//! Unix-socket hosts (issue 23): a host that is a socket directory, given
//! in the URL (`host=/dir` or a percent-encoded path), `DB_HOST` or the
//! builder, connects over that socket, never over TCP to 127.0.0.1.

use strata::prelude::*;
use strata_tests::cluster::TestCluster;

/// Whether `db`'s connection is a Unix socket: `inet_server_addr()` is
/// NULL for one.
async fn over_socket(db: &Db) -> bool {
    let row = db
        .query_read_one("SELECT inet_server_addr() IS NULL", &[])
        .await
        .unwrap();
    row.get(0)
}

#[tokio::test]
async fn a_socket_directory_host_connects_over_the_socket() {
    let cluster = TestCluster::shared();
    let dir = cluster.socket_dir().display().to_string();
    let port = cluster.port();
    let encoded = dir.replace('/', "%2F");
    let configs = [
        (
            "URL host= parameter",
            strata::Config::from_url(&format!(
                "postgres://postgres@/postgres?host={dir}&port={port}"
            ))
            .unwrap(),
        ),
        (
            "URL percent-encoded host",
            strata::Config::from_url(&format!("postgres://postgres@{encoded}:{port}/postgres"))
                .unwrap(),
        ),
        (
            "builder",
            strata::Config::new().host(dir.as_str()).port(port),
        ),
        (
            "DB_HOST",
            strata::Config::from_lookup(|k| match k {
                "DB_HOST" => Some(dir.clone()),
                "DB_PORT" => Some(port.to_string()),
                _ => None,
            })
            .unwrap(),
        ),
    ];
    for (how, config) in configs {
        let shown = config.to_string();
        let db = Db::connect(config)
            .await
            .unwrap_or_else(|e| panic!("{how}: {e}"));
        assert!(over_socket(&db).await, "{how} ({shown}) connected over TCP");
        assert!(
            shown.contains(&dir),
            "{how}: Display shows the socket dir: {shown}"
        );
        db.close().await;
    }
}
