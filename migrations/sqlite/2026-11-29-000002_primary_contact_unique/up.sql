-- A customer has at most one primary contact, enforced here so that no two
-- concurrent writers can both leave one. Where earlier races left several,
-- the most recently updated one (then the newest id) stays primary; the
-- others lose the flag with a new version, so a stale If-Match fails. (No
-- event is appended for this repair.)
UPDATE contacts
SET is_primary = 0,
    version = version + 1,
    updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
WHERE is_primary
  AND EXISTS (
    SELECT 1 FROM contacts AS newer
    WHERE newer.customer_id = contacts.customer_id
      AND newer.is_primary
      AND (newer.updated_at > contacts.updated_at
           OR (newer.updated_at = contacts.updated_at AND newer.id > contacts.id))
  );
CREATE UNIQUE INDEX contacts_one_primary ON contacts (customer_id) WHERE is_primary;
