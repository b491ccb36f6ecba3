//! `Config::from_lookup`: URLs, overrides, defaults and malformed values.

use super::*;
use std::collections::HashMap;

fn from(vars: &[(&str, &str)]) -> Result<Config> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Config::from_lookup(|k| map.get(k).cloned())
}

#[test]
fn url_then_overrides() {
    let c = from(&[
        ("DATABASE_URL", "postgres://app:pw@db.example:6543/shop"),
        ("DB_NAME", "other"),
        ("DB_POOL_MAX", "7"),
        ("DB_STATEMENT_TIMEOUT_MS", "0"),
    ])
    .unwrap();
    assert_eq!(c.to_string(), "postgres://app@db.example:6543/other");
    assert_eq!(c.pool_max, 7);
    assert_eq!(c.statement_timeout, None);
    assert_eq!(c.to_pg().get_password(), Some(&b"pw"[..]));
}

#[test]
fn db_vars_replace_the_url_parts_and_keep_the_rest() {
    let c = from(&[
        (
            "DATABASE_URL",
            "postgres://app:pw@db1:6543,db2/shop?application_name=billing",
        ),
        ("DB_HOST", "db3"),
        ("DB_PORT", "7"),
        ("DB_USER", "other"),
    ])
    .unwrap();
    assert_eq!(c.to_string(), "postgres://other@db3:7/shop");
    let pg = c.to_pg();
    assert_eq!(pg.get_hosts().len(), 1);
    assert_eq!(pg.get_application_name(), Some("billing"));
    assert_eq!(pg.get_password(), Some(&b"pw"[..]));
}

#[test]
fn defaults() {
    let c = from(&[]).unwrap();
    assert_eq!(c.pool_max, 20);
    assert_eq!(c.retry_attempts, 3);
    assert_eq!(c.get_ssl(), SslMode::Disable);
    assert!(!c.cache_feed);
    assert!(from(&[("CACHE_FEED", "true")]).unwrap().cache_feed);
}

#[test]
fn malformed_values_name_the_variable() {
    for (var, value) in [
        ("DB_PORT", "54x"),
        ("DB_POOL_MAX", "-1"),
        ("DB_CONNECT_TIMEOUT_MS", "soon"),
        ("DB_RETRY_ATTEMPTS", "three"),
        ("DB_SSL", "maybe"),
        ("CACHE_L1_CAPACITY", "1e9"),
        ("CACHE_FEED", "yes"),
        ("DATABASE_URL", "postgres://a:b@h:notaport/db"),
    ] {
        let err = from(&[(var, value)]).unwrap_err();
        match &err {
            Error::Config { var: v, .. } => assert_eq!(*v, var, "{err}"),
            other => panic!("expected Config error for {var}, got {other:?}"),
        }
        assert!(err.to_string().contains(var), "{err}");
    }
    let err = from(&[("DB_POOL_MAX", "2"), ("DB_POOL_MIN", "3")]).unwrap_err();
    assert!(err.to_string().contains("DB_POOL_MIN"), "{err}");
}

#[cfg(not(feature = "tls"))]
#[test]
fn tls_without_the_feature_is_refused_not_ignored() {
    let err = from(&[("DB_SSL", "true")]).unwrap_err();
    assert!(err.to_string().contains("`tls` feature"), "{err}");
}

#[cfg(feature = "tls")]
#[test]
fn tls_variables() {
    let c = from(&[("DB_SSL", "true")]).unwrap();
    assert_eq!(
        c.get_ssl(),
        SslMode::VerifyFull,
        "TLS without a mode is verify-full"
    );
    let c = from(&[
        ("DATABASE_URL", "postgres://h/db?sslmode=require"),
        ("DB_SSL", "true"),
    ])
    .unwrap();
    assert_eq!(c.get_ssl(), SslMode::Require, "DB_SSL keeps the URL's mode");
    let c = from(&[("DB_SSL", "yes"), ("DB_SSLMODE", "require")]).unwrap();
    assert_eq!(c.get_ssl(), SslMode::Require);
    let err = from(&[("DB_SSLMODE", "verify")]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Config {
                var: "DB_SSLMODE",
                ..
            }
        ),
        "{err:?}"
    );
    let err = from(&[("DB_SSLMODE", "prefer")]).unwrap_err();
    assert!(
        matches!(err, Error::Config { var: "sslmode", .. }),
        "{err:?}"
    );
    let c = from(&[("DB_SSLMODE", "prefer"), ("DB_SSL_ALLOW_PLAINTEXT", "true")]).unwrap();
    assert_eq!(c.get_ssl(), SslMode::Prefer);
    // A file is read at parse time, so a missing one fails here.
    let err = from(&[("DB_SSLROOTCERT", "/nonexistent/ca.pem")]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Config {
                var: "sslrootcert",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
}

#[test]
fn url_options_set_the_search_path() {
    for url in [
        "postgres://u@h/db?options=-csearch_path%3Dapp",
        "postgres://u@h/db?options=-c%20search_path%3Dapp",
        "postgres://u@h/db?options=--search_path%3Dapp",
    ] {
        let c = Config::from_url(url).unwrap();
        assert_eq!(c.get_search_path(), Some("app"), "{url}");
    }
    let c = Config::from_url("postgres://u@h/db").unwrap();
    assert_eq!(c.get_search_path(), None);
}

#[test]
fn search_path_and_transaction_retries_from_the_environment() {
    let c = from(&[
        ("DB_SEARCH_PATH", "app, public"),
        ("DB_TX_MAX_RETRIES", "4"),
    ])
    .unwrap();
    assert_eq!(c.get_search_path(), Some("app, public"));
    assert_eq!(c.get_tx_max_retries(), 4);
    let c = from(&[(
        "DATABASE_URL",
        "postgres://h/db?options=-csearch_path%3Dfrom_url",
    )])
    .unwrap();
    assert_eq!(c.get_search_path(), Some("from_url"));
    assert_eq!(from(&[]).unwrap().get_tx_max_retries(), 10);
}
