//! Connectors and routes added at run time by the platform operator (the
//! configuration file's are not stored). Every node reads them and runs what
//! they say (`connectors::Connectors::sync`); this file only keeps them.

use sqlx::Row as _;
use sqlx::any::AnyRow;

use super::Store;
use super::contact_writes::is_unique_violation;
use crate::domain::new_id;

/// A stored connector: its settings as JSON, keyed like the file's table.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedConnector {
    pub name: String,
    pub kind: String,
    pub settings: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedRoute {
    pub id: String,
    pub prefix: String,
    pub connector: String,
    pub priority: i64,
    pub created_at: i64,
}

/// What to store for a route.
#[derive(Debug, Clone, Copy)]
pub struct RouteWrite<'a> {
    pub prefix: &'a str,
    pub connector: &'a str,
    pub priority: i64,
}

fn connector_from(r: &AnyRow) -> sqlx::Result<ManagedConnector> {
    Ok(ManagedConnector {
        name: r.try_get("name")?,
        kind: r.try_get("kind")?,
        settings: r.try_get("settings")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn route_from(r: &AnyRow) -> sqlx::Result<ManagedRoute> {
    Ok(ManagedRoute {
        id: r.try_get("id")?,
        prefix: r.try_get("prefix")?,
        connector: r.try_get("connector")?,
        priority: r.try_get("priority")?,
        created_at: r.try_get("created_at")?,
    })
}

/// Why a stored connector could not be removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectorInUse {
    /// No stored connector has that name.
    Missing,
    /// Stored routes lead to it.
    Routed(Vec<ManagedRoute>),
}

impl Store {
    /// Stored connectors, oldest first (the order they are started in).
    pub async fn managed_connectors(&self) -> sqlx::Result<Vec<ManagedConnector>> {
        sqlx::query(
            "SELECT name, kind, settings, created_at, updated_at FROM managed_connectors
             ORDER BY created_at, name",
        )
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(connector_from)
        .collect()
    }

    pub async fn managed_connector(&self, name: &str) -> sqlx::Result<Option<ManagedConnector>> {
        sqlx::query(
            "SELECT name, kind, settings, created_at, updated_at FROM managed_connectors WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.reader)
        .await?
        .as_ref()
        .map(connector_from)
        .transpose()
    }

    /// Stores a new connector; false if one has that name already.
    pub async fn insert_managed_connector(
        &self,
        name: &str,
        kind: &str,
        settings: &str,
        now: i64,
    ) -> sqlx::Result<bool> {
        let done = sqlx::query(
            "INSERT INTO managed_connectors (name, kind, settings, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(name)
        .bind(kind)
        .bind(settings)
        .bind(now)
        .execute(&self.writer)
        .await;
        match done {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Replaces a stored connector's kind and settings; false if none has
    /// that name.
    pub async fn update_managed_connector(
        &self,
        name: &str,
        kind: &str,
        settings: &str,
        now: i64,
    ) -> sqlx::Result<bool> {
        let done = sqlx::query(
            "UPDATE managed_connectors SET kind = $2, settings = $3, updated_at = $4 WHERE name = $1",
        )
        .bind(name)
        .bind(kind)
        .bind(settings)
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Removes a stored connector, unless stored routes lead to it.
    pub async fn delete_managed_connector(&self, name: &str) -> sqlx::Result<Result<(), ConnectorInUse>> {
        let mut tx = self.writer.begin().await?;
        let routed = sqlx::query(
            "SELECT id, prefix, connector, priority, created_at FROM managed_routes WHERE connector = $1
             ORDER BY prefix, priority, id",
        )
        .bind(name)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(route_from)
        .collect::<sqlx::Result<Vec<_>>>()?;
        if !routed.is_empty() {
            return Ok(Err(ConnectorInUse::Routed(routed)));
        }
        let done = sqlx::query("DELETE FROM managed_connectors WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(Err(ConnectorInUse::Missing));
        }
        tx.commit().await?;
        Ok(Ok(()))
    }

    pub async fn managed_routes(&self) -> sqlx::Result<Vec<ManagedRoute>> {
        sqlx::query(
            "SELECT id, prefix, connector, priority, created_at FROM managed_routes
             ORDER BY prefix, priority, connector",
        )
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(route_from)
        .collect()
    }

    /// Stores a route; `None` if the same prefix already leads to the same
    /// connector.
    pub async fn insert_managed_route(
        &self,
        w: RouteWrite<'_>,
        now: i64,
    ) -> sqlx::Result<Option<ManagedRoute>> {
        let route = ManagedRoute {
            id: new_id(),
            prefix: w.prefix.to_owned(),
            connector: w.connector.to_owned(),
            priority: w.priority,
            created_at: now,
        };
        let done = sqlx::query(
            "INSERT INTO managed_routes (id, prefix, connector, priority, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&route.id)
        .bind(&route.prefix)
        .bind(&route.connector)
        .bind(route.priority)
        .bind(now)
        .execute(&self.writer)
        .await;
        match done {
            Ok(_) => Ok(Some(route)),
            Err(e) if is_unique_violation(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes a stored route; false if there is none with that id.
    pub async fn delete_managed_route(&self, id: &str) -> sqlx::Result<bool> {
        let done =
            sqlx::query("DELETE FROM managed_routes WHERE id = $1").bind(id).execute(&self.writer).await?;
        Ok(done.rows_affected() == 1)
    }
}
