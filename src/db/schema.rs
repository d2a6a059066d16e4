//! Hand-kept, backend-portable schema: only types that work on both SQLite and
//! PostgreSQL (ids and JSON documents as text, times as `Timestamp` in UTC).

diesel::table! {
    settings (name) {
        name -> Text,
        value -> Text,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        email -> Text,
        name -> Text,
        role -> Text,
        active -> Bool,
        password_hash -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        tokens_valid_after -> Nullable<Timestamp>,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Text,
        name -> Text,
        role -> Text,
        key_prefix -> Text,
        key_hash -> Text,
        expires_at -> Nullable<Timestamp>,
        created_by -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    customers (id) {
        id -> Text,
        kind -> Text,
        name -> Text,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        website -> Nullable<Text>,
        industry -> Nullable<Text>,
        address_line1 -> Nullable<Text>,
        address_line2 -> Nullable<Text>,
        address_city -> Nullable<Text>,
        address_region -> Nullable<Text>,
        address_postal_code -> Nullable<Text>,
        address_country -> Nullable<Text>,
        lifecycle_stage -> Text,
        tier -> Nullable<Text>,
        email_opt_in -> Bool,
        sms_opt_in -> Bool,
        consent_updated_at -> Nullable<Timestamp>,
        referred_by_id -> Nullable<Text>,
        owner_id -> Nullable<Text>,
        tags -> Text,
        custom_fields -> Text,
        external_id -> Nullable<Text>,
        search_text -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        value_order_count -> BigInt,
        value_total_spent -> BigInt,
        value_last_order_at -> Timestamp,
        value_figures -> Text,
        last_activity_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    contacts (id) {
        id -> Text,
        customer_id -> Text,
        first_name -> Text,
        last_name -> Nullable<Text>,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        title -> Nullable<Text>,
        is_primary -> Bool,
        external_id -> Nullable<Text>,
        search_text -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    record_tags (resource, tag, record_id) {
        resource -> Text,
        tag -> Text,
        record_id -> Text,
    }
}

diesel::table! {
    events (seq) {
        seq -> BigInt,
        resource -> Text,
        record_id -> Text,
        action -> Text,
        changes -> Text,
        data -> Nullable<Text>,
        actor_type -> Text,
        actor_id -> Text,
        occurred_at -> Timestamp,
    }
}

diesel::table! {
    idempotency_keys (actor_id, key) {
        actor_id -> Text,
        key -> Text,
        request_hash -> Text,
        status_code -> Integer,
        location -> Nullable<Text>,
        body -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    login_throttle (key) {
        key -> Text,
        failures -> Integer,
        window_start -> Timestamp,
        locked_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    orders (id) {
        id -> Text,
        customer_id -> Text,
        external_id -> Nullable<Text>,
        number -> Nullable<Text>,
        ordered_at -> Timestamp,
        status -> Text,
        currency -> Text,
        subtotal -> BigInt,
        shipping -> BigInt,
        tax -> BigInt,
        total -> BigInt,
        tags -> Text,
        custom_fields -> Text,
        search_text -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    order_items (order_id, position) {
        order_id -> Text,
        position -> Integer,
        sku -> Text,
        name -> Nullable<Text>,
        quantity -> BigInt,
        unit_price -> BigInt,
        discount -> BigInt,
    }
}

diesel::table! {
    pipelines (id) {
        id -> Text,
        name -> Text,
        is_default -> Bool,
        currency -> Nullable<Text>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    pipeline_stages (id) {
        id -> Text,
        pipeline_id -> Text,
        name -> Text,
        position -> Integer,
        probability -> Integer,
        kind -> Text,
        rotting_days -> Nullable<Integer>,
    }
}

diesel::table! {
    opportunities (id) {
        id -> Text,
        customer_id -> Text,
        contact_id -> Nullable<Text>,
        name -> Text,
        amount -> BigInt,
        currency -> Text,
        pipeline_id -> Text,
        stage_id -> Text,
        probability -> Integer,
        expected_close_date -> Nullable<Text>,
        close_sort -> Text,
        status -> Text,
        lost_reason -> Nullable<Text>,
        closed_at -> Nullable<Timestamp>,
        owner_id -> Nullable<Text>,
        tags -> Text,
        custom_fields -> Text,
        external_id -> Nullable<Text>,
        stage_entered_at -> Timestamp,
        last_activity_at -> Nullable<Timestamp>,
        rotting_at -> Nullable<Timestamp>,
        source_lead_id -> Nullable<Text>,
        search_text -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    opportunity_stages (id) {
        id -> Text,
        opportunity_id -> Text,
        pipeline_id -> Text,
        stage_id -> Text,
        stage_name -> Text,
        entered_at -> Timestamp,
        left_at -> Nullable<Timestamp>,
        changed_by_type -> Text,
        changed_by_id -> Text,
    }
}

diesel::table! {
    leads (id) {
        id -> Text,
        name -> Text,
        company_name -> Nullable<Text>,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        title -> Nullable<Text>,
        source -> Nullable<Text>,
        status -> Text,
        score -> BigInt,
        unqualified_reason -> Nullable<Text>,
        owner_id -> Nullable<Text>,
        tags -> Text,
        custom_fields -> Text,
        external_id -> Nullable<Text>,
        converted_at -> Nullable<Timestamp>,
        converted_customer_id -> Nullable<Text>,
        converted_contact_id -> Nullable<Text>,
        converted_opportunity_id -> Nullable<Text>,
        last_activity_at -> Nullable<Timestamp>,
        search_text -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    activities (id) {
        id -> Text,
        kind -> Text,
        subject -> Text,
        body -> Nullable<Text>,
        direction -> Nullable<Text>,
        occurred_at -> Timestamp,
        duration_seconds -> Nullable<BigInt>,
        due_at -> Nullable<Timestamp>,
        due_sort -> Timestamp,
        completed_at -> Nullable<Timestamp>,
        owner_id -> Nullable<Text>,
        customer_id -> Nullable<Text>,
        contact_id -> Nullable<Text>,
        lead_id -> Nullable<Text>,
        opportunity_id -> Nullable<Text>,
        ticket_id -> Nullable<Text>,
        search_text -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    business_hours (id) {
        id -> Text,
        name -> Text,
        timezone -> Text,
        openings -> Text,
        holidays -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    sla_policies (id) {
        id -> Text,
        name -> Text,
        position -> BigInt,
        is_default -> Bool,
        match_channel -> Nullable<Text>,
        match_tag -> Nullable<Text>,
        business_hours_id -> Nullable<Text>,
        targets -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    tickets (id) {
        id -> Text,
        number -> BigInt,
        customer_id -> Text,
        contact_id -> Nullable<Text>,
        subject -> Text,
        description -> Nullable<Text>,
        status -> Text,
        priority -> Text,
        priority_rank -> BigInt,
        channel -> Nullable<Text>,
        assignee_id -> Nullable<Text>,
        tags -> Text,
        custom_fields -> Text,
        external_id -> Nullable<Text>,
        follow_up_of_id -> Nullable<Text>,
        sla_policy_id -> Nullable<Text>,
        first_response_due_at -> Nullable<Timestamp>,
        resolution_due_at -> Nullable<Timestamp>,
        first_responded_at -> Nullable<Timestamp>,
        first_response_minutes -> Nullable<BigInt>,
        resolution_minutes -> Nullable<BigInt>,
        solved_at -> Nullable<Timestamp>,
        closed_at -> Nullable<Timestamp>,
        pending_since -> Nullable<Timestamp>,
        paused_minutes -> BigInt,
        sla_due_sort -> Timestamp,
        sla_missed -> Bool,
        search_text -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        pending_minutes -> BigInt,
    }
}

diesel::table! {
    ticket_comments (id) {
        id -> Text,
        ticket_id -> Text,
        body -> Text,
        public -> Bool,
        author_type -> Text,
        author_id -> Text,
        edited_at -> Nullable<Timestamp>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    ticket_ratings (ticket_id) {
        ticket_id -> Text,
        rating -> Integer,
        comment -> Nullable<Text>,
        rated_at -> Timestamp,
    }
}

diesel::table! {
    ticket_reopens (ticket_id, reopened_at) {
        ticket_id -> Text,
        reopened_at -> Timestamp,
    }
}

// `search_vector` (PostgreSQL) and `articles_fts` (SQLite) are written by
// the database and read only by the raw search queries of `articles::search`.
diesel::table! {
    articles (id) {
        id -> Text,
        title -> Text,
        body -> Text,
        status -> Text,
        tags -> Text,
        published_at -> Nullable<Timestamp>,
        author_id -> Nullable<Text>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    ticket_articles (ticket_id, article_id) {
        ticket_id -> Text,
        article_id -> Text,
        linked_at -> Timestamp,
    }
}

diesel::table! {
    counters (name) {
        name -> Text,
        value -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    settings,
    users,
    api_keys,
    customers,
    contacts,
    record_tags,
    events,
    idempotency_keys,
    login_throttle,
    orders,
    order_items,
    pipelines,
    pipeline_stages,
    opportunities,
    opportunity_stages,
    leads,
    activities,
    business_hours,
    sla_policies,
    tickets,
    ticket_comments,
    ticket_ratings,
    ticket_reopens,
    articles,
    ticket_articles,
);
