DROP INDEX contacts_one_primary;
