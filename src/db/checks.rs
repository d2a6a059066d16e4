//! The checks every writer shares: a unique value already taken (409 naming
//! the record that holds it), and referenced records that do not exist (one
//! 422 listing each missing reference, found in one round trip).

/// `Ok(())` when no other record of `$table` holds `$value` (an
/// `Option<&str>`) in `$column`; otherwise 409 naming the field and, in
/// `existing_id`, the record holding it. `$own_id` is the record being
/// written, which may keep its own value.
///
/// `ensure_unique!(conn, customers.email = input.email.as_deref(), except id, "customer")`
#[macro_export]
macro_rules! ensure_unique {
    ($conn:expr, $table:ident . $column:ident = $value:expr, except $own_id:expr, $what:literal) => {{
        match $value {
            None => Ok(()),
            Some(value) => {
                let existing: Option<String> = $table::table
                    .filter($table::$column.eq(value))
                    .filter($table::id.ne($own_id))
                    .select($table::id)
                    .first($conn)
                    .optional()?;
                match existing {
                    None => Ok(()),
                    Some(existing_id) => Err($crate::error::ApiError::Conflict {
                        detail: format!(
                            concat!($what, " {} already has this ", stringify!($column)),
                            existing_id
                        ),
                        field: stringify!($column).into(),
                        existing_id: Some(existing_id),
                    }),
                }
            }
        }
    }};
}

/// `Ok(())` when every given reference (an `Option<&str>` id per field)
/// names an existing record; otherwise one 422 listing each missing one.
/// All references are checked in one query.
///
/// `check_references!(conn, { owner_id: users "user" = input.owner_id.as_deref() })`
#[macro_export]
macro_rules! check_references {
    ($conn:expr, { $($field:ident : $table:ident $what:literal = $value:expr),+ $(,)? }) => {{
        let wanted = false $(|| $value.is_some())+;
        if !wanted {
            Ok(())
        } else {
            let ($($field,)+): ($($crate::check_references!(@bool $field),)+) =
                diesel::select(($(
                    diesel::dsl::exists(
                        $table::table.filter($table::id.eq($value.unwrap_or_default().to_string())),
                    ),
                )+))
                .get_result($conn)?;
            let mut missing = Vec::new();
            $(
                if $value.is_some() && !$field {
                    missing.push($crate::error::FieldError::new(
                        stringify!($field),
                        "not_found",
                        concat!("no ", $what, " has this id"),
                    ));
                }
            )+
            if missing.is_empty() {
                Ok(())
            } else {
                Err($crate::error::ApiError::Validation(missing))
            }
        }
    }};
    (@bool $field:ident) => { bool };
}
