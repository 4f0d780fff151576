-- 372 coupons: coupon / discount codes on orders and the code(s) a push campaign hands out.
-- Owners: siyu_cli.ingest writes orders.coupon_code; siyu_cli.push writes push_campaigns.coupon_code;
-- siyu_cli.push.experiments (`siyu push results`, the report) reads both for attribution by redemption.
-- Both hold the same normalised form (ingest/values.py normalise_codes): every code trimmed, empty ones
-- dropped, duplicates removed, sorted, joined with ',' — e.g. 'SPRING10,VIP5'. NULL = no code.
ALTER TABLE orders ADD COLUMN coupon_code VARCHAR;
ALTER TABLE push_campaigns ADD COLUMN coupon_code VARCHAR;
