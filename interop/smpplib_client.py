"""A client built on the Python `smpplib` package (not our code), run against
`kurier smsc-sim` by server/tests/interop.rs.

Usage: python3 smpplib_client.py SMPP_PORT HTTP_PORT
Binds as a transceiver, submits short messages and a long UCS-2 message
split by smpplib itself (UDH), waits for every delivery receipt, asks the
simulator's control port to inject an MO message and waits for it, then
prints one JSON line with what it saw.
"""
import json
import sys
import time
import urllib.request

import smpplib.client
import smpplib.consts
import smpplib.gsm

SHORT = 20
LONG_TEXT = "Zażółć gęślą jaźń — длинное сообщение по-русски. " * 3


def main():
    smpp_port, http_port = int(sys.argv[1]), int(sys.argv[2])
    submitted, receipts, mo = [], [], []

    client = smpplib.client.Client("127.0.0.1", smpp_port, timeout=10, allow_unknown_opt_params=True)
    client.set_message_sent_handler(lambda pdu: submitted.append(pdu.message_id.decode()))

    def received(pdu):
        text = pdu.short_message.decode("utf-16-be") if pdu.data_coding == 8 else pdu.short_message.decode("latin-1")
        if pdu.esm_class & 0x04:
            receipts.append(text)
        else:
            mo.append({"from": pdu.source_addr.decode(), "to": pdu.destination_addr.decode(), "text": text})

    client.set_message_received_handler(received)
    client.connect()
    client.bind_transceiver(system_id="smpplib", password="pw")

    def send(part, coding, esm):
        client.send_message(
            source_addr_ton=smpplib.consts.SMPP_TON_ALNUM, source_addr="Interop",
            dest_addr_ton=smpplib.consts.SMPP_TON_INTL, dest_addr_npi=smpplib.consts.SMPP_NPI_ISDN,
            destination_addr="48600100200", short_message=part, data_coding=coding, esm_class=esm,
            registered_delivery=True,
        )

    for i in range(SHORT):
        parts, coding, esm = smpplib.gsm.make_parts(f"interop {i}")
        for part in parts:
            send(part, coding, esm)
    parts, coding, esm = smpplib.gsm.make_parts(LONG_TEXT)
    for part in parts:
        send(part, coding, esm)
    expected = SHORT + len(parts)

    deadline = time.time() + 20
    while (len(submitted) < expected or len(receipts) < expected) and time.time() < deadline:
        client.read_once()

    body = json.dumps({"from": "+48600100200", "to": "7100", "text": "Привет!"}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{http_port}/mo", data=body,
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request).read()
    deadline = time.time() + 10
    while not mo and time.time() < deadline:
        client.read_once()

    client.unbind()
    client.disconnect()
    print(json.dumps({"long_parts": len(parts), "submitted": len(submitted), "receipts": len(receipts),
                      "delivered": sum("stat:DELIVRD" in r for r in receipts), "mo": mo, "long_text": LONG_TEXT}))


if __name__ == "__main__":
    main()
