-- The application's real database as brevosync finds it (contract §2, "The
-- application's real database"), before any brevosync migration: built from
-- the facts of the application's pg_dump, models and services.
--
--   * contacts.email is text NOT NULL; the key is UNIQUE (domain_id, email),
--     so one email sits on several rows (one per domain);
--   * domain_id/page_id are NOT NULL, with foreign keys that cascade on delete;
--   * the enums crm_sync_status and crm_processing_status, and email_type as
--     the enum contact_email_type_enum;
--   * a trigram GIN index on email (pg_trgm);
--   * the other CRMs' columns (hubspot_*) and the shared retry_count /
--     next_retry_at, which brevosync must not use;
--   * created_at/updated_at as timestamp without time zone, kept by the
--     application's ORM (no trigger);
--   * Supabase's grants: anon and authenticated hold ALL on the application's
--     tables, and default privileges give them ALL on every new table,
--     sequence and function in public.
--
-- The roles anon and authenticated are cluster-wide, so this file does not
-- create them: schematest.NewProductionURL creates them (as the superuser)
-- before it loads this file. The file is loaded by the role that will run
-- migrate, as on Supabase where the application's tables and brevosync's
-- belong to the same role (postgres): the default privileges below are that
-- role's, FOR ROLE CURRENT_USER.
--
-- The rows: a few of each state the application and the old Python
-- scheduler leave behind, and one email on three rows of different domains.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Supabase's defaults: everything the migrating role creates in public is
-- open to the API roles. brevosync's migrate must close its own objects.
ALTER DEFAULT PRIVILEGES FOR ROLE CURRENT_USER IN SCHEMA public GRANT ALL ON TABLES TO anon, authenticated;
ALTER DEFAULT PRIVILEGES FOR ROLE CURRENT_USER IN SCHEMA public GRANT ALL ON SEQUENCES TO anon, authenticated;
ALTER DEFAULT PRIVILEGES FOR ROLE CURRENT_USER IN SCHEMA public GRANT ALL ON FUNCTIONS TO anon, authenticated;

CREATE TYPE crm_sync_status AS ENUM ('New', 'Selected', 'Queued', 'Processing', 'Complete', 'Error', 'Skipped');
CREATE TYPE crm_processing_status AS ENUM ('Queued', 'Processing', 'Complete', 'Error');
CREATE TYPE contact_email_type_enum AS ENUM ('SERVICE', 'CORPORATE', 'FREE', 'UNKNOWN');

CREATE TABLE domains (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name       text NOT NULL UNIQUE,
    created_at timestamp without time zone NOT NULL DEFAULT now(),
    updated_at timestamp without time zone NOT NULL DEFAULT now()
);

CREATE TABLE pages (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    domain_id  uuid NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
    url        text NOT NULL,
    created_at timestamp without time zone NOT NULL DEFAULT now(),
    updated_at timestamp without time zone NOT NULL DEFAULT now()
);

CREATE TABLE contacts (
    id                        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email                     text NOT NULL,
    name                      text,
    phone_number              text,
    domain_id                 uuid NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
    page_id                   uuid NOT NULL REFERENCES pages (id) ON DELETE CASCADE,
    email_type                contact_email_type_enum,
    source_url                text,
    has_gmail                 boolean DEFAULT false,
    created_at                timestamp without time zone NOT NULL DEFAULT now(),
    updated_at                timestamp without time zone NOT NULL DEFAULT now(),
    brevo_sync_status         crm_sync_status NOT NULL DEFAULT 'New',
    brevo_processing_status   crm_processing_status,
    brevo_processing_error    text,
    brevo_contact_id          varchar,
    hubspot_sync_status       crm_sync_status NOT NULL DEFAULT 'New',
    hubspot_processing_status crm_processing_status,
    hubspot_processing_error  text,
    hubspot_contact_id        varchar,
    retry_count               integer NOT NULL DEFAULT 0,
    next_retry_at             timestamp without time zone,
    CONSTRAINT uq_contacts_domain_email UNIQUE (domain_id, email)
);
CREATE INDEX ix_contacts_domain_id ON contacts (domain_id);
CREATE INDEX ix_contacts_page_id ON contacts (page_id);
CREATE INDEX ix_contacts_email_trgm ON contacts USING gin (email gin_trgm_ops);

-- As pg_dump shows them on Supabase (the default privileges above already
-- gave the same; both are there in production).
GRANT ALL ON TABLE domains, pages, contacts TO anon, authenticated;

INSERT INTO domains (id, name, created_at, updated_at) VALUES
    ('d0000000-0000-0000-0000-000000000001', 'example.com', '2024-01-01 09:00:00', '2024-01-01 09:00:00'),
    ('d0000000-0000-0000-0000-000000000002', 'example.org', '2024-01-01 09:00:00', '2024-01-01 09:00:00'),
    ('d0000000-0000-0000-0000-000000000003', 'example.net', '2024-01-01 09:00:00', '2024-01-01 09:00:00');
INSERT INTO pages (id, domain_id, url, created_at, updated_at) VALUES
    ('a0000000-0000-0000-0000-000000000001', 'd0000000-0000-0000-0000-000000000001', 'https://example.com/team',
     '2024-01-01 09:00:00', '2024-01-01 09:00:00'),
    ('a0000000-0000-0000-0000-000000000002', 'd0000000-0000-0000-0000-000000000002', 'https://example.org/about',
     '2024-01-01 09:00:00', '2024-01-01 09:00:00'),
    ('a0000000-0000-0000-0000-000000000003', 'd0000000-0000-0000-0000-000000000003', 'https://example.net/contact',
     '2024-01-01 09:00:00', '2024-01-01 09:00:00');

INSERT INTO contacts (id, email, name, phone_number, domain_id, page_id, email_type, source_url, has_gmail,
                      created_at, updated_at, brevo_sync_status, brevo_processing_status,
                      brevo_processing_error, brevo_contact_id,
                      hubspot_sync_status, hubspot_processing_status, hubspot_contact_id, retry_count, next_retry_at)
VALUES
    -- One email on three rows of different domains.
    ('c0000000-0000-0000-0000-000000000001', 'ada@example.com', 'Ada Lovelace', '+33612345678',
     'd0000000-0000-0000-0000-000000000001', 'a0000000-0000-0000-0000-000000000001', 'CORPORATE',
     'https://example.com/team', false, '2024-01-02 03:04:05', '2024-01-02 03:04:05',
     'Complete', 'Complete', NULL, '42', 'Complete', 'Complete', '9001', 0, NULL),
    ('c0000000-0000-0000-0000-000000000002', 'ada@example.com', 'Ada King', NULL,
     'd0000000-0000-0000-0000-000000000002', 'a0000000-0000-0000-0000-000000000002', 'CORPORATE',
     'https://example.org/about', false, '2024-02-02 03:04:05', '2024-02-02 03:04:05',
     'New', NULL, NULL, NULL, 'New', NULL, NULL, 0, NULL),
    ('c0000000-0000-0000-0000-000000000003', 'ada@example.com', 'Ada', NULL,
     'd0000000-0000-0000-0000-000000000003', 'a0000000-0000-0000-0000-000000000003', 'CORPORATE',
     'https://example.net/contact', false, '2024-03-02 03:04:05', '2024-03-02 03:04:05',
     'Selected', 'Queued', NULL, NULL, 'New', NULL, NULL, 0, NULL),
    -- Left half-done by the old scheduler: an interrupted claim...
    ('c0000000-0000-0000-0000-000000000004', 'grace@example.com', 'Grace Hopper', NULL,
     'd0000000-0000-0000-0000-000000000001', 'a0000000-0000-0000-0000-000000000001', 'FREE',
     NULL, true, '2024-04-03 04:05:06', '2024-04-03 04:05:06',
     'Selected', 'Processing', NULL, NULL, 'New', NULL, NULL, 1, '2024-04-03 05:00:00'),
    -- ...a claim stuck in Processing, with no lease...
    ('c0000000-0000-0000-0000-000000000005', 'linus@example.org', 'Linus Torvalds', NULL,
     'd0000000-0000-0000-0000-000000000002', 'a0000000-0000-0000-0000-000000000002', 'SERVICE',
     NULL, false, '2024-05-04 05:06:07', '2024-05-04 05:06:07',
     'Processing', 'Processing', NULL, NULL, 'Queued', 'Queued', NULL, 2, '2024-05-04 06:00:00'),
    -- ...and a failed request.
    ('c0000000-0000-0000-0000-000000000006', 'bad-email', NULL, NULL,
     'd0000000-0000-0000-0000-000000000001', 'a0000000-0000-0000-0000-000000000001', 'UNKNOWN',
     NULL, NULL, '2024-06-05 06:07:08', '2024-06-05 06:07:08',
     'Selected', 'Error', '400 invalid_parameter: Invalid email address', NULL, 'Error', 'Error', NULL, 3, NULL),
    -- Queued by the application's DeBounce auto-queue.
    ('c0000000-0000-0000-0000-000000000007', 'margaret@example.net', 'Margaret Hamilton', '+14155550100',
     'd0000000-0000-0000-0000-000000000003', 'a0000000-0000-0000-0000-000000000003', 'CORPORATE',
     'https://example.net/contact', false, '2024-07-06 07:08:09', '2024-07-06 07:08:09',
     'Queued', 'Queued', NULL, NULL, 'New', NULL, NULL, 0, NULL),
    -- Reset by the application's documented "reset failed" SQL.
    ('c0000000-0000-0000-0000-000000000008', 'edsger@example.com', 'Edsger Dijkstra', NULL,
     'd0000000-0000-0000-0000-000000000001', 'a0000000-0000-0000-0000-000000000001', 'FREE',
     NULL, true, '2024-08-07 08:09:10', '2024-08-07 08:09:10',
     'Error', 'Queued', 'timeout', NULL, 'Complete', 'Complete', '9002', 1, '2024-08-07 09:00:00'),
    -- Failed for good, and skipped by the application.
    ('c0000000-0000-0000-0000-000000000009', 'barbara@example.org', 'Barbara Liskov', NULL,
     'd0000000-0000-0000-0000-000000000002', 'a0000000-0000-0000-0000-000000000002', 'SERVICE',
     NULL, false, '2024-09-08 09:10:11', '2024-09-08 09:10:11',
     'Error', 'Error', '400 duplicate_parameter: SMS already associated with another contact', NULL,
     'New', NULL, NULL, 0, NULL),
    ('c0000000-0000-0000-0000-000000000010', 'noreply@example.net', NULL, NULL,
     'd0000000-0000-0000-0000-000000000003', 'a0000000-0000-0000-0000-000000000003', 'SERVICE',
     NULL, false, '2024-10-09 10:11:12', '2024-10-09 10:11:12',
     'Skipped', NULL, NULL, NULL, 'Skipped', NULL, NULL, 0, NULL);
