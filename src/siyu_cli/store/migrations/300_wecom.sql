-- 300 wecom: the access-token cache shared by every siyu process, and the media_id cache.
-- Owner: siyu_cli.wecom. Tokens are stored encrypted with a key derived from the corp secret
-- (HMAC-SHA256), so the store file alone does not reveal a usable token; cache_key is an HMAC too.
CREATE TABLE wecom_tokens (
    cache_key   VARCHAR PRIMARY KEY,   -- HMAC(secret-derived key, base_url|corp_id), never the secret
    token_enc   VARCHAR NOT NULL,      -- base64(nonce | token XOR HMAC keystream | tag)
    expires_at  DOUBLE NOT NULL,       -- unix seconds
    fetched_at  DOUBLE NOT NULL
);

-- Uploaded media (images for attachments): reuse a media_id while it is valid (3 days).
CREATE TABLE wecom_media (
    cache_key    VARCHAR NOT NULL,
    file_sha256  VARCHAR NOT NULL,
    media_type   VARCHAR NOT NULL,
    media_id     VARCHAR NOT NULL,
    created_at   DOUBLE NOT NULL,      -- unix seconds (WeCom's created_at)
    PRIMARY KEY (cache_key, file_sha256, media_type)
);
