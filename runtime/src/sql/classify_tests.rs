//! The classifier against statements each class must (and must not) catch.

use super::*;

fn class(sql: &str) -> Class {
    match classify(sql) {
        Sql::One(s) => s.class,
        other => panic!("{sql}: {other:?}"),
    }
}

#[test]
fn sees_past_comments_case_and_spacing() {
    for sql in [
        "/* x */ BEGIN",
        "-- c\nBEGIN",
        "/* a /* nested */ b */begin",
        ";BEGIN",
        " ; ;\n commit",
        "\tStArT TRANSACTION READ ONLY",
        "END",
        "ABORT",
        "rollback work",
        "PREPARE TRANSACTION 'x'",
        "COMMIT PREPARED 'x'",
    ] {
        assert_eq!(class(sql), Class::Transaction, "{sql}");
    }
    assert_eq!(class("ROLLBACK TO SAVEPOINT a"), Class::Savepoint);
    assert_eq!(class("rollback transaction to a"), Class::Savepoint);
    assert_eq!(class("/* BEGIN */ SELECT 1"), Class::Query);
    assert_eq!(class("SELECT 'BEGIN'"), Class::Query);
}

#[test]
fn session_state() {
    for sql in [
        "SET search_path = x",
        "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
        "set role postgres",
        "SET SESSION AUTHORIZATION DEFAULT",
        "RESET ALL",
        "DISCARD ALL",
        "LISTEN c",
        "PREPARE p AS SELECT 1",
        "DECLARE c CURSOR WITH HOLD FOR SELECT 1",
        "CREATE TEMP TABLE t (a int)",
        "create global temporary table t (a int)",
        "SELECT 1 INTO TEMP t",
    ] {
        assert_eq!(class(sql), Class::Session, "{sql}");
    }
    assert_eq!(class("SET LOCAL search_path = x"), Class::TxScoped);
    assert_eq!(class("SET TRANSACTION READ ONLY"), Class::TxScoped);
}

#[test]
fn reads_are_proven_or_not() {
    let read = |sql: &str| match classify(sql) {
        Sql::One(s) => s.proven_read(),
        _ => false,
    };
    for sql in [
        "SELECT 1",
        "(SELECT 1) UNION (SELECT 2)",
        "SHOW search_path",
        "EXPLAIN (FORMAT JSON) SELECT 1",
        "SELECT \"update\", 'delete' FROM t",
        "WITH x AS (SELECT 1) SELECT * FROM x",
    ] {
        assert!(read(sql), "{sql}");
    }
    for sql in [
        "EXPLAIN ANALYZE DELETE FROM t",
        "EXPLAIN (ANALYZE) DELETE FROM t",
        "EXPLAIN (FORMAT JSON, ANALYZE) DELETE FROM t",
        "EXPLAIN ANALYSE DELETE FROM t",
        "EXPLAIN (\"analyze\") SELECT 1",
        "SELECT pg_notify('c', 'x')",
        "SELECT * INTO t2 FROM t",
        "SELECT * FROM t FOR UPDATE",
        "SELECT * FROM t FOR NO KEY UPDATE",
        "WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x",
        "SELECT 1; DELETE FROM t",
        "INSERT INTO t VALUES (1)",
        "/* SELECT */ DELETE FROM t",
    ] {
        assert!(!read(sql), "{sql}");
    }
}

#[test]
fn counts_statements_like_the_server() {
    assert_eq!(classify("SELECT 1; SELECT 2"), Sql::Many(2));
    assert_eq!(classify(";;"), Sql::Empty);
    assert_eq!(classify("-- only a comment"), Sql::Empty);
    // psql and the server read a rule's action list as one statement.
    assert!(matches!(
        classify(
            "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); DELETE FROM b)"
        ),
        Sql::One(_)
    ));
    assert!(matches!(
        classify(
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 1 END; END"
        ),
        Sql::One(Statement {
            class: Class::Other,
            ..
        })
    ));
}

#[test]
fn function_calls() {
    let calls = |sql: &str| match classify(sql) {
        Sql::One(s) => s.calls_unknown_function,
        _ => panic!(),
    };
    assert!(!calls(
        "SELECT count(*), lower(name) FROM t WHERE id IN (1, 2)"
    ));
    assert!(calls("SELECT set_config('search_path', 'x', false)"));
    assert!(calls("SELECT pg_advisory_lock(1)"));
    assert!(calls("SELECT my_function()"));
    assert!(calls("SELECT app.f()"));
    assert!(calls("SELECT app.lower('x')"));
    assert!(!calls("SELECT pg_catalog.lower('x')"));
    // Column lists after a relation's name are not calls.
    assert!(!calls(
        "INSERT INTO users (email, name) VALUES ('a', lower('B'))"
    ));
    assert!(!calls("INSERT INTO app.users (email) VALUES ('a')"));
    assert!(!calls("WITH c (n) AS (SELECT 1) SELECT n FROM c"));
    assert!(!calls("SELECT * FROM unnest('{1}'::int[]) AS u (n)"));
    // .. but a call in their values still is.
    assert!(calls("INSERT INTO users (email) VALUES (my_function())"));
    assert!(calls("INSERT INTO app.users (email) SELECT app.f()"));
}
