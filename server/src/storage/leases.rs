//! Bind leases: which node may open which session of an SMPP connector.
//! A lease is taken (or renewed) for a while and lapses unless renewed, so
//! a node that dies gives its sessions up to the others after that while.

use super::Store;

impl Store {
    /// Takes or renews session `slot` of `connector` for `node` until
    /// `until`; true if `node` holds it now. A lease held by another node
    /// is taken only once it has lapsed (`held_until < now`).
    pub async fn hold_bind_lease(
        &self,
        connector: &str,
        slot: i64,
        node: &str,
        now: i64,
        until: i64,
    ) -> sqlx::Result<bool> {
        let done = sqlx::query(
            "INSERT INTO bind_leases (connector, slot, node, held_until) VALUES ($1, $2, $3, $4)
             ON CONFLICT (connector, slot) DO UPDATE SET node = excluded.node, held_until = excluded.held_until
             WHERE bind_leases.node = excluded.node OR bind_leases.held_until < $5",
        )
        .bind(connector)
        .bind(slot)
        .bind(node)
        .bind(until)
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives session `slot` of `connector` up, if `node` holds it.
    pub async fn release_bind_lease(&self, connector: &str, slot: i64, node: &str) -> sqlx::Result<()> {
        sqlx::query("DELETE FROM bind_leases WHERE connector = $1 AND slot = $2 AND node = $3")
            .bind(connector)
            .bind(slot)
            .bind(node)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Every lease: connector, slot, node, held until (for the API and tests).
    pub async fn bind_leases(&self) -> sqlx::Result<Vec<(String, i64, String, i64)>> {
        sqlx::query_as("SELECT connector, slot, node, held_until FROM bind_leases ORDER BY connector, slot")
            .fetch_all(&self.reader)
            .await
    }
}
