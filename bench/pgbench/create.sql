-- The product's two inserts of a POST (phone + audit row) in one transaction: the database's limit.
\set acct random(100000000, 900000000)
\set num random(100000000, 999999999)
BEGIN;
INSERT INTO phones_phone (account_id, customer_id, number, number_digits, type, area_code, country_code, extension, active, e164, created_at, updated_at)
  VALUES (:acct::bigint, NULL, :num::text, :num::text, 'MOBILE', 11, 55, NULL, true, '+5511' || :num::text, now(), now())
  RETURNING id AS phone_id \gset
INSERT INTO audit_auditentry (event, domain, version, payload, changes, phone_id, account_id, operator_id, operator_email, operator_roles, origin, request_id, ip_address, created_at, prev_hash, hash)
  VALUES ('phone_creation', 'audit', 1,
    jsonb_build_object('method', 'POST', 'uri', '/v1/accounts/' || chr(58) || 'accountId/phones', 'email', 'bench@example.com',
      'roles', '["backoffice-operator"]'::jsonb, 'origin', 'API',
      'object', jsonb_build_object('account_id', :acct::bigint, 'customer_id', NULL, 'area_code', '11', 'number', :num::text,
        'type', 'MOBILE', 'extension', NULL, 'active', true, 'country_code', '55')),
    jsonb_build_object('number', jsonb_build_array(NULL, :num::text)),
    :phone_id::bigint, :acct::bigint, 1, 'bench@example.com', '["backoffice-operator"]', 'API', md5(:num::text), '127.0.0.1', now(), '',
    encode(sha256(:num::text::bytea), 'hex'));
END;
