//! Operator pages, Check IP, metrics (placeholder, being written).

use utoipa_axum::router::OpenApiRouter;

use super::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}
