//! Orders: what a customer bought, as the ERP knows it, with its line items.
//! Model and rules here (the total must add up), queries in `repo`, handlers
//! in `api`. Every order write keeps its customer's `value` current.

pub mod api;
pub mod batch;
pub mod repo;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use validator::Validate;

use crate::db::schema::{order_items, orders};
use crate::db::{self};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::model::{clean, search_text};
use crate::validation;

crate::page_type!(OrderPage, Order, "A page of orders.");

/// The largest amount (in minor units) of a price, a total or a sum of them:
/// ten billion in major units of a two-decimal currency.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;
pub const MAX_ITEMS: usize = 1000;

crate::text_enum! {
    /// Where the order stands; cancelled and refunded orders do not count
    /// towards the customer's value.
    OrderStatus {
        Pending => "pending",
        Paid => "paid",
        Fulfilled => "fulfilled",
        Cancelled => "cancelled",
        Refunded => "refunded",
    }
}

impl OrderStatus {
    /// The statuses whose orders do not count towards a customer's value.
    pub const NOT_COUNTED: [&'static str; 2] = ["cancelled", "refunded"];
}

fn default_status() -> OrderStatus {
    OrderStatus::Pending
}

/// One line of an order as sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct LineItemInput {
    /// The product's stock keeping unit.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "[^\\t\\n\\u000B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]"
    )]
    #[schema(example = "SKU-1001")]
    pub sku: String,
    #[schema(max_length = 200)]
    #[serde(default)]
    pub name: Option<String>,
    #[validate(range(min = 1, max = 1_000_000))]
    #[schema(minimum = 1, maximum = 1_000_000)]
    #[serde(deserialize_with = "crate::model::whole_number")]
    pub quantity: i64,
    /// Price of one unit in minor units (cents).
    #[validate(range(min = 0, max = MAX_AMOUNT))]
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    #[serde(deserialize_with = "crate::model::whole_number")]
    pub unit_price: i64,
    /// Discount on the whole line in minor units; at most quantity × unit_price.
    #[validate(range(min = 0, max = MAX_AMOUNT))]
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    #[serde(default, deserialize_with = "crate::model::whole_number")]
    pub discount: i64,
}

/// The fields a client sets on an order: the body of a create, and the
/// document a PATCH merges into (`items` is replaced as a whole).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct OrderInput {
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "[^\\t\\n\\u000B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]"
    )]
    pub customer_id: String,
    /// Your own key for this order (for example the ERP's); unique. Blank means none.
    #[schema(max_length = 200)]
    #[serde(default)]
    pub external_id: Option<String>,
    /// The ERP's order number, as shown to people; searched by `q`.
    #[schema(max_length = 100)]
    #[serde(default)]
    #[schema(example = "SO-2026-000123")]
    pub number: Option<String>,
    pub ordered_at: DateTime<Utc>,
    #[serde(default = "default_status")]
    pub status: OrderStatus,
    #[validate(custom(function = "validation::currency"))]
    #[schema(value_type = validation::schema::CurrencyCode)]
    pub currency: String,
    /// 1 to 1,000 lines.
    #[validate(length(min = 1, max = 1000), nested)]
    #[schema(min_items = 1, max_items = 1000)]
    pub items: Vec<LineItemInput>,
    /// Shipping in minor units.
    #[validate(range(min = 0, max = MAX_AMOUNT))]
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    #[serde(default, deserialize_with = "crate::model::whole_number")]
    pub shipping: i64,
    /// Tax in minor units.
    #[validate(range(min = 0, max = MAX_AMOUNT))]
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    #[serde(default, deserialize_with = "crate::model::whole_number")]
    pub tax: i64,
    /// The sum of the lines (quantity × unit_price − discount), shipping and
    /// tax. Computed when absent; when given it must equal that sum.
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    #[serde(default, deserialize_with = "crate::model::optional_whole_number")]
    pub total: Option<i64>,
    /// Up to 50 labels of 1 to 64 characters; duplicates are dropped.
    #[validate(custom(function = "validation::tags"))]
    #[serde(default)]
    #[schema(value_type = Vec<validation::schema::Tag>, max_items = 50)]
    pub tags: Vec<String>,
    /// Free-form attributes: up to 50 keys, 16 KiB in all.
    #[validate(custom(function = "validation::custom_fields"))]
    #[serde(default)]
    #[schema(schema_with = validation::schema::custom_fields)]
    pub custom_fields: Map<String, Value>,
}

/// The body of an order PATCH, derived from [`OrderInput`].
pub type OrderPatch = crate::http::patch::Patch<OrderInput>;

impl crate::http::patch::PatchTarget for OrderInput {
    fn template() -> Value {
        serde_json::json!({
            "customer_id": "-",
            "ordered_at": "2000-01-01T00:00:00Z",
            "currency": "EUR",
            "items": [{"sku": "-", "quantity": 1, "unit_price": 0}],
        })
    }

    fn patch_schemas() -> Vec<(
        &'static str,
        utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
    )> {
        vec![(
            "custom_fields",
            validation::schema::custom_fields_patch().into(),
        )]
    }
}

/// The amounts of an order, computed from its lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amounts {
    pub subtotal: i64,
    pub total: i64,
}

impl OrderInput {
    /// Trims text, upper-cases the currency, drops duplicate tags, checks
    /// every rule, and checks that the amounts add up. The normalized input
    /// carries no `total` (it is derived), so an unchanged order compares equal.
    pub fn normalized(self) -> ApiResult<Self> {
        let mut input = self.cleaned();
        validation::check(&input)?;
        let amounts = input.amounts()?;
        if let Some(total) = input.total.take() {
            if total != amounts.total {
                return Err(ApiError::field(
                    "total",
                    "total_mismatch",
                    format!(
                        "must equal the lines plus shipping and tax: {}",
                        amounts.total
                    ),
                ));
            }
        }
        Ok(input)
    }

    /// Trims text, upper-cases the currency, drops duplicate tags (nothing
    /// is checked yet; `total` stays as sent).
    pub fn cleaned(mut self) -> Self {
        self.customer_id = self.customer_id.trim().to_string();
        self.currency = self.currency.trim().to_ascii_uppercase();
        clean(&mut self.external_id);
        clean(&mut self.number);
        for item in &mut self.items {
            item.sku = item.sku.trim().to_string();
            clean(&mut item.name);
        }
        self.tags = validation::normalize_tags(std::mem::take(&mut self.tags));
        self.ordered_at = db::to_utc(db::from_utc(self.ordered_at));
        self
    }

    /// Subtotal and total; a discount larger than its line, or a total
    /// beyond [`MAX_AMOUNT`], is a field error.
    pub fn amounts(&self) -> ApiResult<Amounts> {
        let mut errors = Vec::new();
        let mut subtotal: i128 = 0;
        for (i, item) in self.items.iter().enumerate() {
            let gross = i128::from(item.quantity) * i128::from(item.unit_price);
            if i128::from(item.discount) > gross {
                errors.push(FieldError::new(
                    format!("items[{i}].discount"),
                    "out_of_range",
                    "must be at most quantity × unit_price",
                ));
            }
            subtotal += gross - i128::from(item.discount);
        }
        let total = subtotal + i128::from(self.shipping) + i128::from(self.tax);
        if errors.is_empty() && total > i128::from(MAX_AMOUNT) {
            errors.push(FieldError::new(
                "total",
                "out_of_range",
                format!("the order's total may be at most {MAX_AMOUNT}"),
            ));
        }
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        // Both fit: each is at most MAX_AMOUNT.
        Ok(Amounts {
            subtotal: subtotal as i64,
            total: total as i64,
        })
    }
}

/// One line of an order.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LineItem {
    pub sku: String,
    pub name: Option<String>,
    pub quantity: i64,
    pub unit_price: i64,
    pub discount: i64,
    /// quantity × unit_price − discount.
    pub line_total: i64,
}

/// An order.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Order {
    #[schema(example = "01939a4e-7a1c-7cc0-8e51-5d3c6b0f8a11")]
    pub id: String,
    pub customer_id: String,
    pub external_id: Option<String>,
    pub number: Option<String>,
    pub ordered_at: DateTime<Utc>,
    pub status: OrderStatus,
    pub currency: String,
    pub items: Vec<LineItem>,
    /// The sum of the lines.
    pub subtotal: i64,
    pub shipping: i64,
    pub tax: i64,
    pub total: i64,
    pub tags: Vec<String>,
    #[schema(value_type = Object)]
    pub custom_fields: Map<String, Value>,
    /// Grows by one on every change; the `ETag` is this number in quotes.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Order {
    /// The writable part of this order, as a PATCH sees it.
    pub fn input(&self) -> OrderInput {
        OrderInput {
            customer_id: self.customer_id.clone(),
            external_id: self.external_id.clone(),
            number: self.number.clone(),
            ordered_at: self.ordered_at,
            status: self.status,
            currency: self.currency.clone(),
            items: self
                .items
                .iter()
                .map(|i| LineItemInput {
                    sku: i.sku.clone(),
                    name: i.name.clone(),
                    quantity: i.quantity,
                    unit_price: i.unit_price,
                    discount: i.discount,
                })
                .collect(),
            shipping: self.shipping,
            tax: self.tax,
            total: None,
            tags: self.tags.clone(),
            custom_fields: self.custom_fields.clone(),
        }
    }

    /// Whether this order counts towards its customer's value.
    pub fn counts(&self) -> bool {
        !OrderStatus::NOT_COUNTED.contains(&self.status.as_str())
    }
}

crate::record!(Order);

/// One row of `orders`, column for column.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
#[diesel(table_name = orders, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct OrderRow {
    pub id: String,
    pub customer_id: String,
    pub external_id: Option<String>,
    pub number: Option<String>,
    pub ordered_at: NaiveDateTime,
    pub status: String,
    pub currency: String,
    pub subtotal: i64,
    pub shipping: i64,
    pub tax: i64,
    pub total: i64,
    pub tags: String,
    pub custom_fields: String,
    pub search_text: String,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// One row of `order_items`.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
#[diesel(table_name = order_items, treat_none_as_default_value = false)]
pub struct OrderItemRow {
    pub order_id: String,
    pub position: i32,
    pub sku: String,
    pub name: Option<String>,
    pub quantity: i64,
    pub unit_price: i64,
    pub discount: i64,
}

impl OrderItemRow {
    pub fn into_item(self) -> LineItem {
        LineItem {
            line_total: self.quantity * self.unit_price - self.discount,
            sku: self.sku,
            name: self.name,
            quantity: self.quantity,
            unit_price: self.unit_price,
            discount: self.discount,
        }
    }
}

/// An order's row and item rows, ready to write.
pub struct OrderRows {
    pub order: OrderRow,
    pub items: Vec<OrderItemRow>,
}

impl OrderRows {
    /// The rows holding `input` (normalized, so its amounts add up).
    pub fn from_input(
        id: String,
        input: &OrderInput,
        version: i64,
        created_at: NaiveDateTime,
        updated_at: NaiveDateTime,
    ) -> ApiResult<Self> {
        let amounts = input.amounts()?;
        let items = input
            .items
            .iter()
            .enumerate()
            .map(|(position, item)| OrderItemRow {
                order_id: id.clone(),
                position: i32::try_from(position).unwrap_or(i32::MAX),
                sku: item.sku.clone(),
                name: item.name.clone(),
                quantity: item.quantity,
                unit_price: item.unit_price,
                discount: item.discount,
            })
            .collect();
        let order = OrderRow {
            search_text: search_text(&[input.number.as_deref()]),
            id,
            customer_id: input.customer_id.clone(),
            external_id: input.external_id.clone(),
            number: input.number.clone(),
            ordered_at: db::from_utc(input.ordered_at),
            status: input.status.as_str().to_string(),
            currency: input.currency.clone(),
            subtotal: amounts.subtotal,
            shipping: input.shipping,
            tax: input.tax,
            total: amounts.total,
            tags: serde_json::to_string(&input.tags).unwrap_or_else(|_| "[]".into()),
            custom_fields: Value::Object(input.custom_fields.clone()).to_string(),
            version,
            created_at,
            updated_at,
        };
        Ok(OrderRows { order, items })
    }

    pub fn into_order(self) -> ApiResult<Order> {
        into_order(self.order, self.items)
    }
}

/// The order of a row and its item rows (in position order).
pub fn into_order(row: OrderRow, items: Vec<OrderItemRow>) -> ApiResult<Order> {
    Ok(Order {
        status: OrderStatus::from_db(&row.status)?,
        tags: serde_json::from_str(&row.tags)?,
        custom_fields: serde_json::from_str(&row.custom_fields)?,
        items: items.into_iter().map(OrderItemRow::into_item).collect(),
        id: row.id,
        customer_id: row.customer_id,
        external_id: row.external_id,
        number: row.number,
        ordered_at: db::to_utc(row.ordered_at),
        currency: row.currency,
        subtotal: row.subtotal,
        shipping: row.shipping,
        tax: row.tax,
        total: row.total,
        version: row.version,
        created_at: db::to_utc(row.created_at),
        updated_at: db::to_utc(row.updated_at),
    })
}
