//! The physical limit: a bare SMPP client (no HTTP, no database) that pumps
//! submit_sm to `kurier smsc-sim` over loopback with a window and answers
//! its receipts. Kurier's completed rate is reported as a share of this.

use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;
use futures_util::{SinkExt, StreamExt as _};
use smpp::{
    Address, Bind, COctetString, DataCoding, Packet, Pdu, PduCodec, RegisteredDelivery, ShortMessage,
    SubmitSm,
};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

use super::{BenchArgs, PhaseResult, procstat, start_sim, tempdir};

pub async fn run(exe: &Path, args: &BenchArgs) -> anyhow::Result<PhaseResult> {
    let dir = tempdir()?;
    let (sim, port, _control) = start_sim(exe, &dir, args).await?;
    let sim_pid = sim.0.id();
    let me = std::process::id();
    let stream = TcpStream::connect(("127.0.0.1", port)).await.context("connecting to smsc-sim")?;
    stream.set_nodelay(true)?;
    let mut framed = Framed::new(stream, PduCodec::new(smpp::DEFAULT_MAX_PDU_LEN));
    let bind = Bind {
        system_id: COctetString::try_from("bare")?,
        password: COctetString::try_from("bare")?,
        interface_version: 0x34,
        ..Bind::default()
    };
    framed.send(Packet::new(1, Pdu::BindTransceiver(bind))).await?;
    match framed.next().await {
        Some(Ok(Ok(p))) if matches!(p.pdu, Pdu::BindTransceiverResp(_)) && p.status.0 == 0 => {}
        other => anyhow::bail!("bind failed: {other:?}"),
    }
    let n = args.messages;
    let submit = SubmitSm {
        registered_delivery: RegisteredDelivery::SMSC_RECEIPT,
        ..SubmitSm::new(
            Address::alphanumeric("Bench")?,
            Address::international("48600100200")?,
            DataCoding::SMSC_DEFAULT,
            ShortMessage::new(&b"bench"[..])?,
        )
    };
    let cpu_before = (procstat::cpu_seconds(me)?, procstat::cpu_seconds(sim_pid)?);
    let started = Instant::now();
    let (mut sent, mut answered, mut receipts, mut seq) = (0usize, 0usize, 0usize, 1u32);
    while receipts < n {
        while sent < n && sent - answered < args.window {
            seq += 1;
            framed.feed(Packet::new(seq, Pdu::SubmitSm(submit.clone()))).await?;
            sent += 1;
        }
        SinkExt::<Packet>::flush(&mut framed).await?;
        let packet = match framed.next().await {
            Some(Ok(Ok(p))) => p,
            Some(Ok(Err(e))) => anyhow::bail!("the simulator sent a bad PDU: {e}"),
            Some(Err(e)) => anyhow::bail!("link failed: {e}"),
            None => anyhow::bail!("the simulator closed the link"),
        };
        match packet.pdu {
            Pdu::SubmitSmResp(_) => answered += 1,
            Pdu::DeliverSm(_) => {
                receipts += 1;
                framed
                    .feed(Packet::new(packet.sequence_number, Pdu::DeliverSmResp(Default::default())))
                    .await?;
            }
            Pdu::EnquireLink => {
                framed.feed(Packet::new(packet.sequence_number, Pdu::EnquireLinkResp)).await?
            }
            _ => {}
        }
    }
    SinkExt::<Packet>::flush(&mut framed).await?;
    let elapsed = started.elapsed();
    let cpu_after = (procstat::cpu_seconds(me)?, procstat::cpu_seconds(sim_pid)?);
    drop(sim);
    let _ = std::fs::remove_dir_all(&dir);
    let client_cpu = cpu_after.0 - cpu_before.0;
    let sim_cpu = cpu_after.1 - cpu_before.1;
    let rate = n as f64 / elapsed.as_secs_f64();
    Ok(PhaseResult {
        phase: format!("bare SMPP loop (window {})", args.window),
        messages: n,
        accepted_per_sec: rate,
        submitted_per_sec: rate,
        completed_per_sec: rate,
        sim_cpu_share: sim_cpu / (client_cpu + sim_cpu).max(f64::EPSILON),
        seconds: elapsed.as_secs_f64(),
        ..PhaseResult::default()
    })
}
