//! TLS to PostgreSQL against a test-owned cluster with `ssl=on` and
//! certificates generated here (`strata_tests::tls`): what connects, and
//! that each failure is refused with an error saying which it was.

use std::error::Error as _;
use std::sync::Arc;

use strata::{Config, Db, Error, Executor};
use strata_tests::cluster::TestCluster;
use strata_tests::tls::{SCRAM_PASSWORD, TlsCluster};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A config for `url` that tries once and keeps one connection.
fn config(url: &str) -> Config {
    Config::from_url(url)
        .expect("the URL parses")
        .retry_attempts(0)
        .pool_max(1)
}

/// The error and its sources, one line.
fn chain(err: &Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

/// `(ssl, current_user)` of the connection the handle gets.
async fn session(db: &Db) -> (bool, String) {
    let row = db
        .query_one(
            "SELECT ssl, current_user::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .expect("the session query");
    (row.get(0), row.get(1))
}

/// The refusal of `url`, as one line.
async fn refused(url: &str) -> String {
    let err = Db::connect(config(url)).await.expect_err("must be refused");
    assert!(
        matches!(err, Error::Connection { .. }),
        "a refused handshake is a connection error: {err:?}"
    );
    println!("refused: {}", chain(&err));
    chain(&err)
}

#[tokio::test]
async fn verify_full_connects_encrypted() {
    let tls = TlsCluster::shared();
    let ca = tls.file("ca.pem");
    let db = Db::connect(config(&tls.url(
        "postgres",
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    )))
    .await
    .expect("verify-full against the right CA and host name");
    assert_eq!(session(&db).await, (true, "postgres".into()));
    // TLS asked for without a mode is verify-full too (DB_* variables).
    let c = Config::from_lookup(|k| match k {
        "DB_HOST" => Some("localhost".into()),
        "DB_PORT" => Some(
            tls.url("", "", "")
                .split(':')
                .nth(2)?
                .split('/')
                .next()?
                .into(),
        ),
        "DB_SSLROOTCERT" => Some(ca.clone()),
        _ => None,
    })
    .expect("the variables parse");
    assert_eq!(c.get_ssl(), strata::SslMode::VerifyFull);
    let db = Db::connect(c.retry_attempts(0)).await.expect("connects");
    assert!(session(&db).await.0);
}

#[tokio::test]
async fn a_wrong_host_name_is_refused_by_verify_full_only() {
    let tls = TlsCluster::shared();
    let ca = tls.file("ca.pem");
    // The certificate is for `localhost`, not `127.0.0.1`.
    let why = refused(&tls.url(
        "postgres",
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    ))
    .await;
    assert!(why.contains("not valid for name"), "{why}");
    // verify-ca checks the chain, not the name.
    let db = Db::connect(config(&tls.url(
        "postgres",
        "127.0.0.1",
        &format!("sslmode=verify-ca&sslrootcert={ca}"),
    )))
    .await
    .expect("verify-ca ignores the host name");
    assert!(session(&db).await.0);
}

#[tokio::test]
async fn an_unknown_ca_is_refused_and_require_does_not_check() {
    let tls = TlsCluster::shared();
    let other = tls.file("other-ca.pem");
    for mode in ["verify-full", "verify-ca"] {
        let why = refused(&tls.url(
            "postgres",
            "localhost",
            &format!("sslmode={mode}&sslrootcert={other}"),
        ))
        .await;
        assert!(why.contains("UnknownIssuer"), "{mode}: {why}");
    }
    // `require` encrypts without checking the certificate, as libpq.
    let db = Db::connect(config(&tls.url("postgres", "localhost", "sslmode=require")))
        .await
        .expect("require connects");
    assert!(session(&db).await.0);
}

#[tokio::test]
async fn an_expired_certificate_is_refused() {
    let expired = TlsCluster::start(true);
    let ca = expired.file("ca.pem");
    let why = refused(&expired.url(
        "postgres",
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    ))
    .await;
    assert!(why.contains("expired"), "{why}");
}

#[tokio::test]
async fn a_server_without_tls_is_refused_when_tls_is_required() {
    // The plain cluster: initdb's default `ssl = off`.
    let plain = TestCluster::shared();
    for mode in ["require", "verify-full"] {
        let url = format!("{}?sslmode={mode}&sslrootcert=system", plain.url());
        let why = refused(&url).await;
        assert!(why.contains("server does not support TLS"), "{mode}: {why}");
    }
}

#[tokio::test]
async fn client_certificate_authentication() {
    let tls = TlsCluster::shared();
    let (ca, cert, key) = (
        tls.file("ca.pem"),
        tls.file("client.pem"),
        tls.file("client.key"),
    );
    let db = Db::connect(config(&tls.url(
        "certuser",
        "localhost",
        &format!("sslrootcert={ca}&sslcert={cert}&sslkey={key}"),
    )))
    .await
    .expect("the client certificate logs certuser in");
    assert_eq!(session(&db).await, (true, "certuser".into()));
    // Without it, pg_hba's `cert` method refuses.
    let err = Db::connect(config(&tls.url(
        "certuser",
        "localhost",
        &format!("sslrootcert={ca}"),
    )))
    .await
    .expect_err("no client certificate");
    assert!(chain(&err).contains("certificate"), "{}", chain(&err));
}

/// SCRAM-SHA-256-PLUS: the server checks the `tls-server-end-point`
/// binding, whose hash must be SHA-384 for this `ecdsa-with-SHA384`
/// certificate.
#[tokio::test]
async fn scram_channel_binding_is_accepted() {
    let tls = TlsCluster::shared();
    let ca = tls.file("ca.pem");
    let url = tls.url(
        &format!("scramuser:{SCRAM_PASSWORD}"),
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={ca}&channel_binding=require"),
    );
    let db = Db::connect(config(&url))
        .await
        .unwrap_or_else(|e| panic!("channel binding refused: {}", chain(&e)));
    assert_eq!(session(&db).await, (true, "scramuser".into()));
}

/// A server that speaks only plaintext: answers `N` to the SSLRequest,
/// then asks for a cleartext password. Returns its port and the bytes
/// each connection sent, one message per connection once it closes.
async fn plaintext_server() -> (u16, tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                let mut asked = false;
                while let Ok(n) = sock.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    if seen == SSL_REQUEST {
                        let _ = sock.write_all(b"N").await;
                    } else if !asked && seen.len() > SSL_REQUEST.len() {
                        asked = true;
                        // AuthenticationCleartextPassword.
                        let _ = sock.write_all(&[b'R', 0, 0, 0, 8, 0, 0, 0, 3]).await;
                    }
                }
                let _ = tx.send(seen);
            });
        }
    });
    (port, rx)
}

/// SSLRequest: length 8, code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

#[tokio::test]
async fn a_password_is_never_sent_in_plaintext_when_tls_is_required() {
    let password = "never-on-the-wire";
    let (port, mut sent) = plaintext_server().await;
    let url = format!("postgres://app:{password}@127.0.0.1:{port}/db");
    for mode in ["require", "verify-full"] {
        let err = Db::connect(config(&format!("{url}?sslmode={mode}&sslrootcert=system")))
            .await
            .expect_err("a plaintext-only server");
        assert!(
            chain(&err).contains("does not support TLS"),
            "{}",
            chain(&err)
        );
        let bytes = sent.recv().await.expect("the connection's bytes");
        assert_eq!(
            bytes, SSL_REQUEST,
            "{mode}: only the SSLRequest, no startup"
        );
    }
    // The control: with the plaintext opt-in, `prefer` falls back and the
    // same server receives the password, so the check above can fail.
    let fallback = config(&format!("{url}?sslmode=prefer")).allow_plaintext_fallback(true);
    let connect = Db::connect(fallback.connect_timeout(std::time::Duration::from_millis(500)));
    let _ = connect.await;
    let bytes = Arc::new(sent.recv().await.expect("the fallback's bytes"));
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains(password), "prefer fell back: {text:?}");
}

/// `rediss://` to a TLS-only `redis-server`: the cache works with the
/// right CA, fails with another, and TLS files with a `redis://` URL are
/// a config error.
#[tokio::test]
async fn redis_over_tls() {
    use std::time::Duration;
    use strata_tests::tls::TlsRedis;
    let redis = TlsRedis::start();
    let files = TlsCluster::shared();
    let pg = || config(&strata_tests::database_url());

    let db = Db::connect(
        pg().redis_url(redis.url("rediss"))
            .redis_ssl_root_cert(files.file("ca.pem")),
    )
    .await
    .expect("connect");
    db.cache()
        .set("tls-probe", &42i64, Duration::from_secs(60))
        .await
        .expect("SET over TLS");
    let got: Option<i64> = db.cache().get("tls-probe").await.expect("GET over TLS");
    assert_eq!(got, Some(42));

    let untrusted = Db::connect(
        pg().redis_url(redis.url("rediss"))
            .redis_ssl_root_cert(files.file("other-ca.pem")),
    )
    .await
    .expect("PostgreSQL connects; Redis is lazy");
    let err = untrusted
        .cache()
        .get::<i64>("tls-probe")
        .await
        .expect_err("an unknown CA must be refused");
    assert!(matches!(err, Error::Cache(_)), "{err:?}");

    let err = Db::connect(
        pg().redis_url(redis.url("redis"))
            .redis_ssl_root_cert(files.file("ca.pem")),
    )
    .await
    .expect_err("TLS files with a plaintext URL");
    assert!(
        matches!(
            err,
            Error::Config {
                var: "REDIS_URL",
                ..
            }
        ),
        "{err:?}"
    );
}

/// The change feed's dedicated listener connection uses the pool's TLS:
/// with `sslmode=require` (the shared server has `ssl=on`) its events
/// arrive, and its backend is encrypted. A plaintext connect there would
/// be refused, and the feed would stay silent.
#[tokio::test]
async fn the_change_feed_listens_over_tls() {
    use super::models::{PRODUCTS, Product, product};
    use strata::prelude::*;
    let t = strata_tests::TestDb::with(|c| c.ssl(strata::SslMode::Require)).await;
    t.execute(PRODUCTS, &[]).await.unwrap();
    t.install_changes::<Product>().await.unwrap();
    let listener = Db::connect(t.config()).await.unwrap();
    let mut feed = listener.changes::<Product>().await.expect("the feed");
    Product::insert(t.db(), product(7)).await.unwrap();
    let event = tokio::time::timeout(std::time::Duration::from_secs(20), feed.next())
        .await
        .expect("an event within 20 s")
        .expect("the feed is open");
    assert!(
        matches!(event, strata::changes::ChangeEvent::Row { key: 7, .. }),
        "{event:?}"
    );
    assert!(session(t.db()).await.0, "the pool is encrypted");
}

/// The cache lease's own PostgreSQL connection uses the pool's TLS too:
/// with Redis configured, caches are trusted only once that connection has
/// confirmed the lease, so an L1 hit shows it connected (a plaintext
/// connect under `sslmode=require` would leave every read uncached).
#[tokio::test]
async fn the_cache_lease_confirms_over_tls() {
    use super::models::{PRODUCTS, Product, product};
    use strata::prelude::*;
    let t = strata_tests::TestDb::with(|c| {
        c.ssl(strata::SslMode::Require)
            .redis_url(strata_tests::redis_url())
    })
    .await;
    t.execute(PRODUCTS, &[]).await.unwrap();
    Product::insert(t.db(), product(7)).await.unwrap();
    let mut reads = 0;
    // Polls until the lease is trusted (`Db::connect` waits up to two
    // leases; a busy machine may take longer), bounded at about 10 s.
    while t.db().metrics().cache.l1_hits == 0 && reads < 200 {
        Product::get_cached(t.db(), 7).await.unwrap();
        reads += 1;
        if t.db().metrics().cache.l1_hits == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    assert!(
        t.db().metrics().cache.l1_hits > 0,
        "no L1 hit in {reads} reads: the cache lease never confirmed over TLS"
    );
}

/// A refused handshake is not retried: it would fail the same way again.
/// With three retries allowed, a certificate from an unknown CA costs one
/// connection (counted by a TCP proxy in front of the TLS cluster), and a
/// refused connection (the proxy rejecting) still gets its retries.
#[tokio::test]
async fn a_refused_handshake_is_not_retried() {
    use strata_tests::proxy::{FaultProxy, Mode};
    let tls = TlsCluster::shared();
    let other = tls.file("other-ca.pem");
    let url = tls.url(
        "postgres",
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={other}"),
    );
    let port: u16 = url
        .split("localhost:")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .expect("the cluster's port in its URL");
    // Raw: TLS bytes are not PostgreSQL messages the proxy could parse.
    let proxy = FaultProxy::start_raw(&format!("127.0.0.1:{port}")).await;
    let via_proxy = url.replace(
        &format!("localhost:{port}/"),
        &format!("localhost:{}/", proxy.port()),
    );
    let err = Db::connect(config(&via_proxy).retry_attempts(3))
        .await
        .expect_err("an unknown CA");
    assert!(chain(&err).contains("UnknownIssuer"), "{}", chain(&err));
    assert_eq!(proxy.accepted(), 1, "the refused handshake was retried");

    proxy.set_mode(Mode::Reject);
    let before = proxy.accepted();
    let _ = Db::connect(config(&via_proxy).retry_attempts(3)).await;
    assert!(
        proxy.accepted() - before > 1,
        "a refused connection is still retried"
    );
}
