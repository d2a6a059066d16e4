-- Failed sign-ins per account (`email:<address>`) and per client address
-- (`addr:<ip>`), kept here so that every replica applies the same limits.
CREATE TABLE login_throttle (
    key TEXT PRIMARY KEY NOT NULL,
    -- Failed or refused attempts since window_start.
    failures INTEGER NOT NULL,
    window_start TIMESTAMP NOT NULL,
    -- Attempts are refused until then.
    locked_until TIMESTAMP
);
