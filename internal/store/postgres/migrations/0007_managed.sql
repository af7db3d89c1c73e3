-- Sources and subscribers added through the admin API (config.toml's own
-- are read from the file): each as its config keys in JSON.
CREATE TABLE managed (
    kind TEXT NOT NULL,   -- source | subscriber
    id   TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
