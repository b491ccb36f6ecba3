use std::collections::{HashMap, HashSet};

use super::*;

fn server_from(vars: &[(&str, &str)]) -> Config {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    server_config_from(|key| vars.get(key).cloned()).unwrap()
}

#[test]
fn an_empty_environment_means_the_local_test_database() {
    let c = server_from(&[]);
    assert_eq!((c.get_user(), c.get_dbname()), ("postgres", "test"));
    let c = server_from(&[("DATABASE_URL", "")]);
    assert_eq!(c.get_dbname(), "test", "an empty DATABASE_URL is unset");
}

#[test]
fn the_environment_names_the_server_as_from_env_reads_it() {
    let c = server_from(&[("DATABASE_URL", "postgres://app@db.internal:5433/shop")]);
    assert_eq!((c.get_user(), c.get_dbname()), ("app", "shop"));
    // Any server variable turns the default off: DB_NAME alone is
    // Config::from_env's reading, on strata's defaults.
    let c = server_from(&[("DB_NAME", "other")]);
    assert_eq!((c.get_user(), c.get_dbname()), ("postgres", "other"));
    let c = server_from(&[("DB_USER", "ci")]);
    assert_eq!(
        c.get_dbname(),
        "postgres",
        "as Config::from_env: no DATABASE_URL"
    );
    // The rest of the variables are read too.
    let c = server_from(&[("DB_POOL_MAX", "3")]);
    assert_eq!((c.get_pool_max(), c.get_dbname()), (3, "test"));
}

#[test]
fn schema_names_are_unique_identifiers() {
    let names: HashSet<String> = (0..1000).map(|_| schema_name()).collect();
    assert_eq!(names.len(), 1000);
    for name in &names {
        assert!(name.len() <= 63, "PostgreSQL truncates identifiers: {name}");
        assert!(name.starts_with(&format!("strata_test_{}_", std::process::id())));
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        );
    }
}

#[test]
fn the_drop_is_quoted_and_bounded() {
    assert_eq!(ident("a\"b"), "\"a\"\"b\"");
    let sql = drop_sql("it's");
    assert!(sql.contains("SET lock_timeout = '10s';"), "{sql}");
    assert!(
        sql.contains("DROP SCHEMA IF EXISTS \"it's\" CASCADE;"),
        "{sql}"
    );
    assert!(sql.contains("WHERE name = 'it''s';"), "{sql}");
}

#[test]
fn with_redis_keeps_a_configured_url() {
    let c = with_redis(Config::new());
    assert_eq!(
        c.redis_url.as_ref().map(|s| s.expose()),
        Some(DEFAULT_REDIS)
    );
    let c = with_redis(Config::new().redis_url("redis://cache:6380"));
    assert_eq!(
        c.redis_url.as_ref().map(|s| s.expose()),
        Some("redis://cache:6380")
    );
}

#[test]
fn errors_come_with_their_sources() {
    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("create the test schema")
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
    let e = Outer(std::io::Error::other("permission denied"));
    assert_eq!(chain(&e), "create the test schema: permission denied");
    let repeated = Outer(std::io::Error::other("create the test schema"));
    assert_eq!(chain(&repeated), "create the test schema", "no repeats");
}
