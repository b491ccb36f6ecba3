-- The users table the examples and tests use.
CREATE TABLE users (
    id         bigserial   PRIMARY KEY,
    email      text        NOT NULL UNIQUE,
    name       text        NOT NULL,
    age        int         NOT NULL CHECK (age >= 0),
    active     bool        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz
);
