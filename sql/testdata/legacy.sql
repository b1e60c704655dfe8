-- The existing application's schema, as brevosync finds it in production:
-- enums already present, domain_id/page_id NOT NULL with foreign keys,
-- email as varchar, email_type an enum, timestamps without time zone, and
-- other CRMs' columns beside Brevo's. Used by the migration tests.
CREATE TYPE crm_sync_status AS ENUM ('New', 'Selected', 'Queued', 'Processing', 'Complete', 'Error', 'Skipped');
CREATE TYPE crm_processing_status AS ENUM ('Queued', 'Processing', 'Complete', 'Error');
CREATE TYPE email_type_enum AS ENUM ('personal', 'business', 'role');

CREATE TABLE domains (
    id   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name varchar(255) NOT NULL
);
CREATE TABLE pages (
    id        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    domain_id uuid NOT NULL REFERENCES domains (id),
    url       varchar NOT NULL
);
CREATE TABLE contacts (
    id                        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email                     varchar(320) NOT NULL,
    name                      varchar(255),
    phone_number              varchar(64),
    domain_id                 uuid NOT NULL REFERENCES domains (id),
    page_id                   uuid NOT NULL REFERENCES pages (id),
    email_type                email_type_enum,
    source_url                varchar,
    has_gmail                 boolean DEFAULT false,
    created_at                timestamp without time zone NOT NULL DEFAULT now(),
    updated_at                timestamp without time zone NOT NULL DEFAULT now(),
    brevo_sync_status         crm_sync_status NOT NULL DEFAULT 'New',
    brevo_processing_status   crm_processing_status,
    brevo_processing_error    text,
    brevo_contact_id          varchar,
    hubspot_sync_status       crm_sync_status NOT NULL DEFAULT 'New',
    hubspot_processing_status crm_processing_status,
    hubspot_contact_id        varchar,
    retry_count               integer NOT NULL DEFAULT 0,
    next_retry_at             timestamp without time zone
);
CREATE INDEX ix_contacts_domain ON contacts (domain_id);

INSERT INTO domains (id, name) VALUES ('11111111-1111-1111-1111-111111111111', 'example.com');
INSERT INTO pages (id, domain_id, url) VALUES
    ('22222222-2222-2222-2222-222222222222', '11111111-1111-1111-1111-111111111111', 'https://example.com/team');

INSERT INTO contacts (id, email, name, phone_number, domain_id, page_id, email_type, source_url, has_gmail,
                      created_at, updated_at, brevo_sync_status, brevo_processing_status,
                      brevo_processing_error, brevo_contact_id, hubspot_sync_status, retry_count, next_retry_at)
VALUES
    ('aaaaaaaa-0000-0000-0000-000000000001', 'Ada@Example.com', 'Ada Lovelace', '+33612345678',
     '11111111-1111-1111-1111-111111111111', '22222222-2222-2222-2222-222222222222', 'business',
     'https://example.com/team', false, '2024-01-02 03:04:05', '2024-01-02 03:04:05',
     'Complete', 'Complete', NULL, '42', 'Complete', 0, NULL),
    ('aaaaaaaa-0000-0000-0000-000000000002', 'grace@example.com', 'Grace', NULL,
     '11111111-1111-1111-1111-111111111111', '22222222-2222-2222-2222-222222222222', 'personal',
     NULL, true, '2024-02-03 04:05:06', '2024-02-03 04:05:06',
     'Processing', 'Processing', NULL, NULL, 'New', 2, '2024-02-03 05:00:00'),
    ('aaaaaaaa-0000-0000-0000-000000000003', 'bad-email', NULL, NULL,
     '11111111-1111-1111-1111-111111111111', '22222222-2222-2222-2222-222222222222', NULL,
     NULL, NULL, '2024-03-04 05:06:07', '2024-03-04 05:06:07',
     'Error', 'Error', '400 invalid_parameter: Invalid email address', NULL, 'Error', 1, NULL),
    ('aaaaaaaa-0000-0000-0000-000000000004', 'linus@example.com', 'Linus Torvalds', NULL,
     '11111111-1111-1111-1111-111111111111', '22222222-2222-2222-2222-222222222222', 'role',
     NULL, false, '2024-04-05 06:07:08', '2024-04-05 06:07:08',
     'New', NULL, NULL, NULL, 'New', 0, NULL);
