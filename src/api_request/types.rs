//! The untyped syntax tree of a request: what the user wrote in the query string,
//! before it is checked against the schema cache. Mirrors PostgREST's `ApiRequest.Types`.
//!
//! Nothing here knows about SQL or the database; the planner resolves these against the
//! schema cache and the query builder renders the result.

/// A column, computed field or `*` as written in the URL.
pub type FieldName = String;

/// The path of embedded resources a parameter applies to: `actors.films.order` → `["actors", "films"]`.
pub type EmbedPath = Vec<String>;

/// One step of a JSON path: `->key`, `->0`, `->>key`, `->>-1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonOperation {
    /// `->`: the result stays json/jsonb.
    Arrow(JsonOperand),
    /// `->>`: the result is text.
    DoubleArrow(JsonOperand),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonOperand {
    /// An object key (bound as a text parameter).
    Key(String),
    /// An array index; negative indexes count from the end.
    Idx(i64),
}

pub type JsonPath = Vec<JsonOperation>;

/// A field reference with an optional JSON path: `data->phones->0->>number`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: FieldName,
    pub json_path: JsonPath,
}

impl Field {
    pub fn new(name: impl Into<String>) -> Self {
        Field {
            name: name.into(),
            json_path: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateFunction {
    Sum,
    Avg,
    Max,
    Min,
    Count,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinType {
    Left,
    Inner,
}

/// One item of `select=`; relations carry their own nested select list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectItem {
    /// `alias:field->path::cast`, `*`, `count()`, `amount.sum()::int`.
    Field {
        field: Field,
        aggregate: Option<AggregateFunction>,
        aggregate_cast: Option<String>,
        /// A type name as written (`text`, `double precision`); resolved by the database, never spliced.
        cast: Option<String>,
        alias: Option<String>,
    },
    /// `alias:relation!hint!inner(children)`.
    Relation {
        relation: String,
        alias: Option<String>,
        hint: Option<String>,
        join_type: Option<JoinType>,
        children: Vec<SelectItem>,
    },
    /// `...relation!hint!inner(children)`.
    Spread {
        relation: String,
        hint: Option<String>,
        join_type: Option<JoinType>,
        children: Vec<SelectItem>,
    },
}

/// Operators that take exactly one value and no quantifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimpleOperator {
    NotEqual,
    Contains,
    Contained,
    Overlap,
    StrictlyLeft,
    StrictlyRight,
    NotExtendsRight,
    NotExtendsLeft,
    Adjacent,
}

/// Operators that accept the `(any)`/`(all)` quantifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantOperator {
    Equal,
    GreaterThanEqual,
    GreaterThan,
    LessThanEqual,
    LessThan,
    Like,
    ILike,
    Match,
    IMatch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpQuantifier {
    Any,
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FtsOperator {
    Fts,
    Plain,
    Phrase,
    Websearch,
}

/// The whitelisted operands of `is` (rendered as SQL keywords, never bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsVal {
    Null,
    NotNull,
    True,
    False,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    Simple(SimpleOperator, String),
    Quant(QuantOperator, Option<OpQuantifier>, String),
    /// `in.(a,b,"c,d")`: the parsed list; `in.()` is one empty string, as in PostgREST.
    In(Vec<String>),
    Is(IsVal),
    IsDistinctFrom(String),
    /// `fts(english).value`.
    Fts(FtsOperator, Option<String>, String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpExpr {
    /// `not.`-prefixed or plain operator expression.
    Expr { negated: bool, operation: Operation },
    /// Only on GET/HEAD RPC: a parameter without an operator is a function argument.
    NoOp(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub field: Field,
    pub op_expr: OpExpr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogicOperator {
    And,
    Or,
}

/// `or=(a.eq.1,not.and(b.gt.2,c.is.null))`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogicTree {
    Expr {
        negated: bool,
        op: LogicOperator,
        children: Vec<LogicTree>,
    },
    Stmnt(Filter),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderDirection {
    Asc,
    Desc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderNulls {
    First,
    Last,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderTerm {
    /// `Some(rel)` for a related order `rel(field).desc` (to-one embeds only).
    pub relation: Option<String>,
    pub field: Field,
    pub direction: Option<OrderDirection>,
    pub nulls: Option<OrderNulls>,
}
