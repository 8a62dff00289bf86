//! Allow and deny lists, custom lookups (placeholder, being written).

use utoipa_axum::router::OpenApiRouter;

use super::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}
