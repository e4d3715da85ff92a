//! The HTTP API: routes, handlers and their contracts.
//!
//! | method | path | success | body |
//! |---|---|---|---|
//! | `POST` | `/collections` | 201 created, 200 when an identical one exists | [`NewCollection`] -> [`CollectionView`] |
//! | `GET` | `/collections/{name}` | 200 | [`CollectionInfo`] |
//! | `DELETE` | `/collections/{name}` | 204 | - |
//! | `PUT` | `/collections/{name}/items` | 200 | `{"items": [ItemInput]}` -> [`UpsertView`] |
//! | `GET` | `/collections/{name}/items?filter=&limit=&cursor=&with_vector=` | 200 + `Link: <next>; rel="next"` | [`ItemPageView`] |
//! | `POST` | `/collections/{name}/items/delete` | 204 | [`DeleteItemsRequest`] |
//! | `GET` | `/collections/{name}/items/{id}?with_vector=` | 200 | [`ItemView`] |
//! | `PATCH` | `/collections/{name}/items/{id}` | 204 | a JSON object merged into the payload |
//! | `DELETE` | `/collections/{name}/items/{id}` | 204 (also when the item did not exist) | - |
//! | `POST` | `/collections/{name}/search` | 200 + `x-cache: hit\|miss\|bypass` | [`SearchRequest`] -> [`SearchView`] |
//! | `POST` | `/collections/{name}/query` | 200 + `x-cache: hit\|miss\|bypass` | [`QueryRequest`] -> [`SearchView`] |
//! | `GET` | `/openapi.json` | 200 | the OpenAPI 3.1 document ([`crate::openapi`]) |
//! | `GET` | `/health/live`, `/health/ready`, `/health/infra` | 200 / 503 | `application/health+json` (infra-http) |
//!
//! With authentication on (`SOCIAL_HTTP__AUTH__*`, docs/security.md) the scopes are: `read`
//! for `GET` and search, `write` for item upserts and deletes, `admin` for creating and
//! deleting collections (admin implies write implies read); the health routes,
//! `/openapi.json` and the metrics path are public ([`Api::policy`]).
//!
//! Every error is an RFC 9457 `application/problem+json` body from infra-http: a body that
//! is not JSON 400; JSON of the wrong shape (unknown field, negative id, a payload that is
//! not an object...) and refused values (dimension, limit, batch, name, id) 422; unknown
//! collection or item 404; a collection that exists with another spec 409; a body over
//! `SOCIAL_HTTP__BODY_LIMIT` 413; an answer over `SOCIAL_HTTP__MAX_RESPONSE_BYTES` 422
//! ([`crate::response`]); a dependency that is down, not configured or too slow 503
//! with `Retry-After`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::handler::Handler;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, get, on};
use axum::{Extension, Json, Router};
use infra_base::{
    CollectionInfo, Distance, EnsureOutcome, ErrorKind, FacetHit, FacetRequest, Filter, InfraError,
    Payload, PointId, QueryRequest, Record, ScoredPoint, SparseParams, SparseVector,
    UNNAMED_VECTOR, Vector, Vectors,
};
use infra_http::health::{INFRA_PATH, LIVE_PATH, READY_PATH};
use infra_http::{ApiError, AppState, Problem, RoutePolicy, Scope};
use serde::{Deserialize, Serialize};

use crate::catalog::{
    CATALOG_BACKEND, CatalogService, DEFAULT_PAGE_SIZE, ItemInput, NamedVectorParams,
    NewCollection, PageRequest, SearchOutcome, SearchRequest,
};
use crate::openapi;
use crate::response::ResponseLimit;

/// The response header that tells how a search used the cache.
pub const CACHE_HEADER: &str = "x-cache";

/// Path of the OpenAPI document.
pub const OPENAPI_PATH: &str = "/openapi.json";

/// One route the router serves: a method on a path template (axum's `{param}` syntax, the
/// same as OpenAPI's).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Route {
    /// Upper-case method name (`GET`).
    pub method: String,
    /// Path template (`/collections/{name}`).
    pub path: &'static str,
}

/// The service's router, the table of every route in it and the scope each one needs.
#[derive(Debug)]
pub struct Api {
    /// The router (without infra-http's standard layers: [`infra_http::Server`] adds them).
    pub router: Router,
    /// Every route registered, health and documentation routes included.
    pub routes: Vec<Route>,
    /// The scope each route needs when authentication is on: reads `read` (search
    /// included), item writes `write`, creating and deleting collections `admin`; the
    /// health routes and `/openapi.json` are public.
    pub policy: RoutePolicy,
}

/// Builds a router while recording each route it registers and the scope it needs, so
/// neither the route table nor the policy can drift from the router (the OpenAPI test
/// compares both with the document).
struct Routes<S> {
    router: Router<S>,
    table: Vec<Route>,
    policy: RoutePolicy,
}

impl<S: Clone + Send + Sync + 'static> Routes<S> {
    fn new() -> Self {
        Self {
            router: Router::new(),
            table: Vec::new(),
            policy: RoutePolicy::new(),
        }
    }

    fn add<H, T>(mut self, method: &Method, path: &'static str, scope: Scope, handler: H) -> Self
    where
        H: Handler<T, S>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone())
            .unwrap_or_else(|_| panic!("{method} cannot be routed"));
        self.router = self.router.route(path, on(filter, handler));
        self.policy = self.policy.require(method.clone(), path, scope);
        self.table.push(Route {
            method: method.as_str().to_owned(),
            path,
        });
        self
    }
}

/// The whole HTTP API over `catalog`, with infra-http's health routes over `app`; no JSON
/// answer is larger than `limit` (searches are checked before they run).
pub fn api(catalog: Arc<CatalogService>, app: &AppState, limit: ResponseLimit) -> Api {
    let registered = Routes::new()
        .add(
            &Method::POST,
            "/collections",
            Scope::Admin,
            create_collection,
        )
        .add(
            &Method::GET,
            "/collections/{name}",
            Scope::Read,
            get_collection,
        )
        .add(
            &Method::DELETE,
            "/collections/{name}",
            Scope::Admin,
            delete_collection,
        )
        .add(
            &Method::PUT,
            "/collections/{name}/items",
            Scope::Write,
            upsert_items,
        )
        .add(
            &Method::GET,
            "/collections/{name}/items",
            Scope::Read,
            list_items,
        )
        .add(
            &Method::POST,
            "/collections/{name}/items/delete",
            Scope::Write,
            delete_items,
        )
        .add(
            &Method::GET,
            "/collections/{name}/items/{id}",
            Scope::Read,
            get_item,
        )
        .add(
            &Method::PATCH,
            "/collections/{name}/items/{id}",
            Scope::Write,
            merge_item_payload,
        )
        .add(
            &Method::DELETE,
            "/collections/{name}/items/{id}",
            Scope::Write,
            delete_item,
        )
        .add(
            &Method::POST,
            "/collections/{name}/search",
            Scope::Read,
            search,
        )
        .add(
            &Method::POST,
            "/collections/{name}/query",
            Scope::Read,
            query,
        )
        .add(
            &Method::POST,
            "/collections/{name}/facet",
            Scope::Read,
            facet,
        );
    let Routes {
        router,
        mut table,
        policy,
    } = registered;
    // The health routes are public in every RoutePolicy; the document is too.
    let policy = policy.public(OPENAPI_PATH);
    // Served by infra-http's `health_router` (GET only) and by `openapi_document`.
    for path in [LIVE_PATH, READY_PATH, INFRA_PATH, OPENAPI_PATH] {
        table.push(Route {
            method: "GET".to_owned(),
            path,
        });
    }
    let router = router
        .with_state(catalog)
        .layer(Extension(limit))
        .route(OPENAPI_PATH, get(openapi_document))
        .merge(app.health_router());
    Api {
        router,
        routes: table,
        policy,
    }
}

/// `Json<T>` whose rejection is a problem (400 not JSON, 415 wrong content type, 422 wrong
/// shape, 413 too large).
///
/// Stricter than `Json<T>` in one way: serde's derived `Deserialize` also reads a struct
/// from an array of its fields (`"hnsw": [16, 100]`), which the OpenAPI document does not
/// allow; a body with an array where the value read is an object is refused (422), so
/// what the service accepts is what its document says.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned + Serialize,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Json(raw) = Json::<serde_json::Value>::from_request(req, state)
            .await
            .map_err(Problem::from)?;
        // Read again from bytes for axum's own data errors (with the path of the field).
        let bytes = serde_json::to_vec(&raw).unwrap_or_default();
        let Json(value) = Json::<T>::from_bytes(&bytes).map_err(Problem::from)?;
        let read = serde_json::to_value(&value).unwrap_or(serde_json::Value::Null);
        if let Some(path) = array_read_as_object(&raw, &read, String::new()) {
            return Err(
                Problem::from_status(StatusCode::UNPROCESSABLE_ENTITY).with_detail(format!(
                    "Failed to deserialize the JSON body into the target type: {}: expected \
                     a JSON object, got an array",
                    if path.is_empty() { "." } else { &path }
                )),
            );
        }
        Ok(ApiJson(value))
    }
}

/// The path of the first member of `raw` that is an array where the value read from it
/// (`read`, serialized back) is an object. Members `read` drops or renames are not compared.
fn array_read_as_object(
    raw: &serde_json::Value,
    read: &serde_json::Value,
    path: String,
) -> Option<String> {
    use serde_json::Value;
    match (raw, read) {
        (Value::Array(_), Value::Object(_)) => Some(path),
        (Value::Object(raw), Value::Object(read)) => raw.iter().find_map(|(key, inner)| {
            let seen = read.get(key)?;
            let path = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            array_read_as_object(inner, seen, path)
        }),
        (Value::Array(raw), Value::Array(read)) if raw.len() == read.len() => raw
            .iter()
            .zip(read)
            .enumerate()
            .find_map(|(i, (inner, seen))| {
                array_read_as_object(inner, seen, format!("{path}[{i}]"))
            }),
        _ => None,
    }
}

/// A created or existing collection: the answer of `POST /collections`, which repeats the
/// request's vectors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectionView {
    /// Collection name.
    pub name: String,
    /// The unnamed vector's dimension (absent in a collection of named vectors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimension: Option<usize>,
    /// How the unnamed vector is compared (absent in a collection of named vectors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance: Option<Distance>,
    /// The named dense vectors (absent in a collection of one unnamed vector).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vectors: Option<BTreeMap<String, NamedVectorParams>>,
    /// The named sparse vectors.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sparse_vectors: BTreeMap<String, SparseParams>,
    /// Whether this request created it (false: an identical one existed).
    pub created: bool,
}

/// A stored item's or a hit's vectors as the API shows them, in the shape an upsert
/// writes them: the unnamed dense vector, named dense ones, sparse ones.
type VectorFields = (
    Option<Vec<f32>>,
    Option<BTreeMap<String, Vec<f32>>>,
    Option<BTreeMap<String, SparseVector>>,
);

fn vector_fields(vectors: Option<Vectors>) -> VectorFields {
    let (mut unnamed, mut named, mut sparse) = (None, BTreeMap::new(), BTreeMap::new());
    for (name, vector) in vectors.into_iter().flatten() {
        match vector {
            Vector::Dense(v) if name == UNNAMED_VECTOR => unnamed = Some(v),
            Vector::Dense(v) => {
                named.insert(name, v);
            }
            Vector::Sparse(v) => {
                sparse.insert(name, v);
            }
        }
    }
    (unnamed, non_empty(named), non_empty(sparse))
}

fn non_empty<V>(map: BTreeMap<String, V>) -> Option<BTreeMap<String, V>> {
    (!map.is_empty()).then_some(map)
}

/// The body of `PUT /collections/{name}/items`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpsertRequest {
    /// 1..=1000 items.
    pub items: Vec<ItemInput>,
}

/// The answer of `PUT /collections/{name}/items`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpsertView {
    /// How many items were written.
    pub upserted: usize,
}

/// An item: the answer of `GET /collections/{name}/items/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemView {
    /// Item id.
    pub id: PointId,
    /// Its payload.
    pub payload: Payload,
    /// Its unnamed vector, when `with_vector=true` (normalized in cosine collections).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector: Option<Vec<f32>>,
    /// Its named dense vectors, when `with_vector=true` and it has some.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vectors: Option<BTreeMap<String, Vec<f32>>>,
    /// Its sparse vectors, when `with_vector=true` and it has some.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sparse: Option<BTreeMap<String, SparseVector>>,
}

impl From<Record> for ItemView {
    fn from(record: Record) -> Self {
        let (vector, vectors, sparse) = vector_fields(record.vectors);
        Self {
            id: record.id,
            payload: record.payload,
            vector,
            vectors,
            sparse,
        }
    }
}

/// A page of items: the answer of `GET /collections/{name}/items`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemPageView {
    /// The items of the page, by ascending id.
    pub items: Vec<ItemView>,
    /// The URL (path and query) of the next page, `None` on the last page; also sent as a
    /// `Link: <...>; rel="next"` header.
    pub next: Option<String>,
}

/// The body of `POST /collections/{name}/items/delete`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteItemsRequest {
    /// The items to delete: those matching it, at least one condition.
    pub filter: Filter,
}

/// One search hit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HitView {
    /// Item id.
    pub id: PointId,
    /// Similarity (cosine, dot: higher is closer) or distance (euclid, manhattan: lower is).
    pub score: f32,
    /// Payload, unless `with_payload` was false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Payload>,
    /// Unnamed vector, when `with_vector` was true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector: Option<Vec<f32>>,
    /// Named dense vectors, when `with_vector` was true and the item has some.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vectors: Option<BTreeMap<String, Vec<f32>>>,
    /// Sparse vectors, when `with_vector` was true and the item has some.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sparse: Option<BTreeMap<String, SparseVector>>,
}

impl From<ScoredPoint> for HitView {
    fn from(hit: ScoredPoint) -> Self {
        let (vector, vectors, sparse) = vector_fields(hit.vectors);
        Self {
            id: hit.id,
            score: hit.score,
            payload: hit.payload,
            vector,
            vectors,
            sparse,
        }
    }
}

/// The answer of `POST /collections/{name}/search`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchView {
    /// Best first.
    pub hits: Vec<HitView>,
}

/// The answer of `POST /collections/{name}/facet`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FacetView {
    /// One per value, the most frequent first (ties by ascending value).
    pub hits: Vec<FacetHit>,
}

/// Query string of `GET /collections/{name}/items/{id}`.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemQuery {
    #[serde(default)]
    with_vector: bool,
}

/// Query string of `GET /collections/{name}/items`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    /// A [`Filter`] as JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    filter: Option<String>,
    #[serde(default = "default_page_size")]
    limit: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    with_vector: bool,
}

fn default_page_size() -> usize {
    DEFAULT_PAGE_SIZE
}

type Catalog = State<Arc<CatalogService>>;

async fn create_collection(
    State(catalog): Catalog,
    ApiJson(request): ApiJson<NewCollection>,
) -> Result<Response, ApiError> {
    let view = CollectionView {
        name: request.name.clone(),
        dimension: request.dimension,
        distance: request.distance,
        vectors: request.vectors.clone(),
        sparse_vectors: request.sparse_vectors.clone(),
        created: false,
    };
    let outcome = catalog.create_collection(request).await?;
    let created = outcome == EnsureOutcome::Created;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let location = format!("/collections/{}", view.name);
    let mut response = (status, Json(CollectionView { created, ..view })).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

async fn get_collection(
    State(catalog): Catalog,
    Path(name): Path<String>,
) -> Result<Json<CollectionInfo>, ApiError> {
    Ok(Json(catalog.collection_info(&name).await?))
}

async fn delete_collection(
    State(catalog): Catalog,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    catalog.delete_collection(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn upsert_items(
    State(catalog): Catalog,
    Path(name): Path<String>,
    ApiJson(request): ApiJson<UpsertRequest>,
) -> Result<Json<UpsertView>, ApiError> {
    let upserted = catalog.upsert_items(&name, request.items).await?;
    Ok(Json(UpsertView { upserted }))
}

/// Parses an item id from the path: an unsigned integer or a UUID.
fn parse_id(text: &str, operation: &'static str) -> Result<PointId, ApiError> {
    text.parse().map_err(|_| {
        ApiError(InfraError::new(
            ErrorKind::InvalidInput,
            CATALOG_BACKEND,
            operation,
            "invalid item id: expected an unsigned 64-bit integer or a UUID",
        ))
    })
}

async fn get_item(
    State(catalog): Catalog,
    Path((name, id)): Path<(String, String)>,
    Extension(limit): Extension<ResponseLimit>,
    query: Result<Query<ItemQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = match query {
        Ok(query) => query,
        Err(rejection) => return Ok(Problem::from(rejection).into_response()),
    };
    let id = parse_id(&id, "get_item")?;
    let record = catalog.get_item(&name, id, query.with_vector).await?;
    Ok(limit.json("get_item", &ItemView::from(record))?)
}

async fn list_items(
    State(catalog): Catalog,
    Path(name): Path<String>,
    Extension(limit): Extension<ResponseLimit>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    const OP: &str = "list_items";
    let Query(query) = match query {
        Ok(query) => query,
        Err(rejection) => return Ok(Problem::from(rejection).into_response()),
    };
    let cursor = query
        .cursor
        .as_deref()
        .map(|text| parse_id(text, OP))
        .transpose()?;
    let filter = match query.filter.as_deref() {
        None => Filter::default(),
        Some(text) => serde_json::from_str(text).map_err(|err| {
            ApiError(InfraError::new(
                ErrorKind::InvalidInput,
                CATALOG_BACKEND,
                OP,
                format!("the filter parameter is not a filter ({err}): expected JSON as in a search's filter"),
            ))
        })?,
    };
    let request = PageRequest {
        filter,
        limit: query.limit,
        cursor,
        with_vector: query.with_vector,
    };
    let page = catalog.list_items(&name, &request).await?;
    let next = page
        .next_page_offset
        .map(|id| next_page(&name, &query, id))
        .transpose()?;
    let view = ItemPageView {
        items: page.points.into_iter().map(ItemView::from).collect(),
        next,
    };
    let mut response = limit.json(OP, &view)?;
    if let Some(next) = &view.next
        && let Ok(value) = HeaderValue::from_str(&format!("<{next}>; rel=\"next\""))
    {
        response.headers_mut().insert(header::LINK, value);
    }
    Ok(response)
}

/// The URL of the page after the one `query` asked for, starting at `cursor`: the same
/// parameters, percent-encoded.
fn next_page(collection: &str, query: &PageQuery, cursor: PointId) -> Result<String, ApiError> {
    let next = PageQuery {
        cursor: Some(cursor.to_string()),
        ..query.clone()
    };
    let encoded = serde_urlencoded::to_string(&next).map_err(|err| {
        ApiError(
            InfraError::new(
                ErrorKind::Internal,
                CATALOG_BACKEND,
                "list_items",
                "the next page's link cannot be encoded",
            )
            .with_source(err),
        )
    })?;
    Ok(format!("/collections/{collection}/items?{encoded}"))
}

async fn delete_items(
    State(catalog): Catalog,
    Path(name): Path<String>,
    ApiJson(request): ApiJson<DeleteItemsRequest>,
) -> Result<StatusCode, ApiError> {
    catalog.delete_items_matching(&name, request.filter).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn merge_item_payload(
    State(catalog): Catalog,
    Path((name, id)): Path<(String, String)>,
    ApiJson(payload): ApiJson<Payload>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id, "merge_item_payload")?;
    catalog.merge_item_payload(&name, id, payload).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_item(
    State(catalog): Catalog,
    Path((name, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id, "delete_item")?;
    catalog.delete_item(&name, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn search(
    State(catalog): Catalog,
    Path(name): Path<String>,
    Extension(limit): Extension<ResponseLimit>,
    ApiJson(request): ApiJson<SearchRequest>,
) -> Result<Response, ApiError> {
    limit.check_search(&request)?;
    let outcome = catalog.search(&name, &request).await?;
    hits_response(limit, "search", outcome)
}

async fn query(
    State(catalog): Catalog,
    Path(name): Path<String>,
    Extension(limit): Extension<ResponseLimit>,
    ApiJson(request): ApiJson<QueryRequest>,
) -> Result<Response, ApiError> {
    let outcome = catalog.query(&name, &request).await?;
    hits_response(limit, "query", outcome)
}

async fn facet(
    State(catalog): Catalog,
    Path(name): Path<String>,
    Extension(limit): Extension<ResponseLimit>,
    ApiJson(request): ApiJson<FacetRequest>,
) -> Result<Response, ApiError> {
    let hits = catalog.facet(&name, &request).await?;
    Ok(limit.json("facet", &FacetView { hits })?)
}

/// The hits as a [`SearchView`], with the cache status header.
fn hits_response(
    limit: ResponseLimit,
    operation: &'static str,
    outcome: SearchOutcome,
) -> Result<Response, ApiError> {
    let view = SearchView {
        hits: outcome.hits.into_iter().map(HitView::from).collect(),
    };
    let mut response = limit.json(operation, &view)?;
    response.headers_mut().insert(
        CACHE_HEADER,
        HeaderValue::from_static(outcome.cache.as_str()),
    );
    Ok(response)
}

async fn openapi_document() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        openapi::DOCUMENT,
    )
        .into_response()
}
