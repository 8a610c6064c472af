"""Drives matrix-nio (Debian's python3-matrix-nio, with python-olm) against a Trellis server.

Usage: driver.py HOMESERVER_URL

Two users, Alice and Bob, go through what a nio bot does: register, log in, upload Olm device
and one-time keys, create an encrypted room, invite and join, query and claim keys, send an
encrypted message that Bob decrypts from sync and from /messages, exchange to-device messages,
back up Bob's Megolm key and restore it, read devices, members, profile and context, forget a
room, and log out. nio speaks the r0 paths throughout.

Each step prints one JSON line on stdout: {"step": name, "ok": bool, ...}. The driver stops at
the first failed step (later ones depend on it) and exits 1; 0 when every step passed.
"""

import asyncio
import json
import logging
import secrets
import sys
import time
import traceback
from urllib.parse import quote

import olm
from nio import (
    AsyncClient,
    AsyncClientConfig,
    DevicesResponse,
    JoinedMembersResponse,
    JoinResponse,
    KeysClaimResponse,
    KeysQueryResponse,
    KeysUploadResponse,
    LoginResponse,
    LogoutResponse,
    MegolmEvent,
    ProfileGetResponse,
    ProfileSetDisplayNameResponse,
    RegisterResponse,
    RoomContextResponse,
    RoomCreateResponse,
    RoomForgetResponse,
    RoomInviteResponse,
    RoomLeaveResponse,
    RoomMessagesResponse,
    RoomMessageText,
    RoomKeyRequestCancellation,
    RoomSendResponse,
    SyncResponse,
    ToDeviceMessage,
    ToDeviceResponse,

)
from nio.responses import WhoamiError
from nio.store import SqliteMemoryStore

PASSWORD = "correct horse battery"
BACKUP_ALGORITHM = "m.megolm_backup.v1.curve25519-aes-sha2"
# Generous bound on waiting for something to arrive through sync; the loop ends as soon as it
# is there.
WAIT_SECONDS = 60


class StepFailed(Exception):
    pass


def emit(step, ok, **detail):
    print(json.dumps({"step": step, "ok": ok, **detail}), flush=True)


def expect(response, kind, what):
    """The response if it is of the expected nio type, else a failure naming what nio said."""
    if not isinstance(response, kind):
        raise StepFailed(f"{what}: nio returned {type(response).__name__}: {response}")
    return response


def client_config(encryption=False):
    # nio retries a request that times out or cannot connect forever by default: give up after
    # a few, so a server that is gone ends the run with an error instead of hanging it.
    return AsyncClientConfig(
        encryption_enabled=encryption,
        store=SqliteMemoryStore,
        store_sync_tokens=False,
        max_timeouts=3,
        request_timeout=60,
    )


async def wait_for(client, what, found, holdings):
    """Syncs `client` until found(client) gives a value; fails after WAIT_SECONDS, saying what
    each party holds."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        response = expect(await client.sync(timeout=1000), SyncResponse, f"sync for {what}")
        value = found(client, response)
        if value:
            return value
        if time.monotonic() > deadline:
            raise StepFailed(f"no {what} after {WAIT_SECONDS} s; holdings: {holdings()}")


async def raw(client, method, path, body=None):
    """A request nio has no method for, sent through nio's own HTTP session and token."""
    headers = {"Authorization": f"Bearer {client.access_token}"}
    data = None
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body)
    response = await client.send(method, path, data, headers)
    return response.status, await response.json()


async def run(homeserver):
    suffix = secrets.token_hex(4)
    names = {"alice": f"nio_alice_{suffix}", "bob": f"nio_bob_{suffix}"}
    clients = []
    state = {}

    def holdings():
        return {
            name: {
                "rooms": sorted(c.rooms),
                "invited": sorted(c.invited_rooms),
                "events_seen": [type(e).__name__ for e in state.get(f"{name}_events", [])],
            }
            for name, c in state.get("named", {}).items()
        }

    async def step(name, action):
        try:
            detail = await action()
        except StepFailed as failure:
            emit(name, False, error=str(failure))
            raise
        except Exception as failure:  # any other fault of nio or of the server's answers
            emit(name, False, error=f"{type(failure).__name__}: {failure}",
                 trace=traceback.format_exc())
            raise StepFailed(name) from failure
        emit(name, True, **(detail or {}))

    # ---- register: nio's m.login.dummy registration, on a client of its own ----
    async def register():
        ids = {}
        for who, localpart in names.items():
            client = AsyncClient(homeserver, config=client_config())
            clients.append(client)
            response = expect(
                await client.register(localpart, PASSWORD, f"nio {who} registration"),
                RegisterResponse,
                f"register {who}",
            )
            ids[who] = response.user_id
        state["ids"] = ids
        return {"users": ids}

    # ---- login: the clients used from here on, with Olm encryption ----
    async def login():
        named = {}
        for who, localpart in names.items():
            client = AsyncClient(
                homeserver, state["ids"][who], config=client_config(encryption=True)
            )
            clients.append(client)
            response = expect(
                await client.login(PASSWORD, device_name=f"nio {who}"),
                LoginResponse,
                f"login {who}",
            )
            named[who] = client
            state[f"{who}_device"] = response.device_id
        state["named"] = named
        return {"devices": {w: state[f"{w}_device"] for w in named}}

    async def keys_upload():
        counts = {}
        for who, client in state["named"].items():
            if not client.should_upload_keys:
                raise StepFailed(f"nio sees no keys to upload for {who}")
            response = expect(await client.keys_upload(), KeysUploadResponse, f"keys_upload {who}")
            counts[who] = response.signed_curve25519_count
            if counts[who] <= 0:
                raise StepFailed(f"server counts no one-time keys for {who}: {counts[who]}")
        return {"signed_curve25519_counts": counts}

    async def create_room():
        alice = state["named"]["alice"]
        response = expect(
            await alice.room_create(
                name="nio room",
                initial_state=[
                    {
                        "type": "m.room.encryption",
                        "state_key": "",
                        "content": {"algorithm": "m.megolm.v1.aes-sha2"},
                    }
                ],
            ),
            RoomCreateResponse,
            "room_create",
        )
        state["room"] = response.room_id
        return {"room_id": response.room_id}

    async def invite_and_join():
        alice, bob = state["named"]["alice"], state["named"]["bob"]
        room = state["room"]
        expect(await alice.room_invite(room, state["ids"]["bob"]), RoomInviteResponse, "invite")
        await wait_for(bob, "invite", lambda c, _r: room in c.invited_rooms, holdings)
        expect(await bob.join(room), JoinResponse, "join")
        joined = await wait_for(
            alice,
            "Bob's join",
            lambda c, _r: room in c.rooms and state["ids"]["bob"] in c.rooms[room].users,
            holdings,
        )
        await wait_for(bob, "the joined room", lambda c, _r: room in c.rooms, holdings)
        return {"joined": bool(joined), "encrypted": alice.rooms[room].encrypted}

    async def keys_query():
        alice = state["named"]["alice"]
        bob_id = state["ids"]["bob"]
        if bob_id not in alice.users_for_key_query:
            raise StepFailed(f"nio does not want Bob's keys: {alice.users_for_key_query}")
        response = expect(await alice.keys_query(), KeysQueryResponse, "keys_query")
        devices = sorted(response.device_keys.get(bob_id, {}))
        if state["bob_device"] not in devices:
            raise StepFailed(f"Bob's device not in the answer: {response.device_keys}")
        return {"bob_devices": devices}

    async def keys_claim():
        alice = state["named"]["alice"]
        missing = alice.get_missing_sessions(state["room"])
        bob_id = state["ids"]["bob"]
        if state["bob_device"] not in missing.get(bob_id, []):
            raise StepFailed(f"nio misses no session with Bob's device: {missing}")
        response = expect(await alice.keys_claim(missing), KeysClaimResponse, "keys_claim")
        claimed = response.one_time_keys.get(bob_id, {}).get(state["bob_device"], {})
        if not any(k.startswith("signed_curve25519:") for k in claimed):
            raise StepFailed(f"no signed_curve25519 key claimed: {response.one_time_keys}")
        if alice.get_missing_sessions(state["room"]).get(bob_id):
            raise StepFailed("nio made no Olm session from the claimed key")
        return {"claimed": sorted(claimed)}

    async def send_and_sync():
        alice, bob = state["named"]["alice"], state["named"]["bob"]
        room = state["room"]
        text = f"hello bob {suffix}"
        # Encrypted: nio shares the Megolm key with Bob's device over to-device first.
        sent = expect(
            await alice.room_send(
                room,
                "m.room.message",
                {"msgtype": "m.text", "body": text},
                ignore_unverified_devices=True,
            ),
            RoomSendResponse,
            "room_send",
        )
        state["event_id"] = sent.event_id
        state["text"] = text

        def decrypted(_client, response):
            timeline = response.rooms.join.get(room)
            events = timeline.timeline.events if timeline else []
            state.setdefault("bob_events", []).extend(events)
            return next(
                (e for e in events if isinstance(e, RoomMessageText) and e.body == text), None
            )

        message = await wait_for(bob, "the decrypted message", decrypted, holdings)
        if message.event_id != sent.event_id or not message.decrypted:
            raise StepFailed(f"unexpected event: {message}")
        return {"event_id": sent.event_id, "decrypted_by_bob": message.body}

    async def messages():
        bob = state["named"]["bob"]
        # nio asks for the latest events with an empty `from`.
        response = expect(
            await bob.room_messages(state["room"], start="", limit=10),
            RoomMessagesResponse,
            "room_messages",
        )
        found = [e for e in response.chunk if getattr(e, "event_id", None) == state["event_id"]]
        if not found:
            raise StepFailed(f"the message is not in /messages: {response.chunk}")
        event = found[0]
        if isinstance(event, MegolmEvent):
            event = bob.decrypt_event(event)
        if not isinstance(event, RoomMessageText) or event.body != state["text"]:
            raise StepFailed(f"the message from /messages does not decrypt: {event}")
        return {"chunk": len(response.chunk), "start": response.start, "end": response.end}

    async def to_device():
        alice, bob = state["named"]["alice"], state["named"]["bob"]
        request_id = f"req-{suffix}"
        # A plain to-device message of a type nio parses (it drops types it does not know).
        message = ToDeviceMessage(
            "m.room_key_request",
            state["ids"]["bob"],
            state["bob_device"],
            {
                "action": "request_cancellation",
                "requesting_device_id": state["alice_device"],
                "request_id": request_id,
            },
        )
        expect(await alice.to_device(message), ToDeviceResponse, "to_device")

        def arrived(_client, response):
            return next(
                (
                    e
                    for e in response.to_device_events
                    if isinstance(e, RoomKeyRequestCancellation) and e.request_id == request_id
                ),
                None,
            )

        event = await wait_for(bob, "the to-device message", arrived, holdings)
        return {"sender": event.sender, "request_id": event.request_id}

    async def room_keys_backup():
        """nio 0.20.1 has no key-backup API: the requests go through nio's HTTP session, to the
        v3 paths (the backup was added in v1.1 and never had r0 paths). Encryption is the
        backup algorithm's Curve25519 PkEncryption from python-olm."""
        bob = state["named"]["bob"]
        room = state["room"]
        sessions = [s for s in bob.olm.inbound_group_store if s.room_id == room]
        if not sessions:
            raise StepFailed("Bob holds no Megolm session for the room")
        session = sessions[0]
        backup_key = olm.pk.PkDecryption()
        status, body = await raw(
            bob,
            "POST",
            "/_matrix/client/v3/room_keys/version",
            {"algorithm": BACKUP_ALGORITHM, "auth_data": {"public_key": backup_key.public_key}},
        )
        if status != 200:
            raise StepFailed(f"create backup version: {status} {body}")
        version = body["version"]
        exported = {
            "algorithm": "m.megolm.v1.aes-sha2",
            "sender_key": session.sender_key,
            "session_key": session.export_session(session.first_known_index),
            "sender_claimed_keys": {"ed25519": session.ed25519},
            "forwarding_curve25519_key_chain": session.forwarding_chain,
        }
        sealed = olm.pk.PkEncryption(backup_key.public_key).encrypt(json.dumps(exported))
        key_path = (
            f"/_matrix/client/v3/room_keys/keys/{quote(room, safe='')}/"
            f"{quote(session.id, safe='')}?version={quote(version)}"
        )
        status, body = await raw(
            bob,
            "PUT",
            key_path,
            {
                "first_message_index": session.first_known_index,
                "forwarded_count": 0,
                "is_verified": False,
                "session_data": {
                    "ephemeral": sealed.ephemeral_key,
                    "ciphertext": sealed.ciphertext,
                    "mac": sealed.mac,
                },
            },
        )
        if status != 200 or body.get("count") != 1:
            raise StepFailed(f"store key: {status} {body}")
        status, body = await raw(
            bob, "GET", f"/_matrix/client/v3/room_keys/keys?version={quote(version)}"
        )
        if status != 200:
            raise StepFailed(f"fetch keys: {status} {body}")
        stored = body["rooms"][room]["sessions"][session.id]["session_data"]
        restored = json.loads(
            backup_key.decrypt(
                olm.pk.PkMessage(stored["ephemeral"], stored["mac"], stored["ciphertext"])
            )
        )
        # The restored key decrypts the message as the server stores it.
        status, event = await raw(
            bob,
            "GET",
            f"/_matrix/client/r0/rooms/{quote(room, safe='')}/event/"
            f"{quote(state['event_id'], safe='')}",
        )
        if status != 200:
            raise StepFailed(f"fetch event: {status} {event}")
        imported = olm.InboundGroupSession.import_session(restored["session_key"])
        plaintext, _index = imported.decrypt(event["content"]["ciphertext"])
        body_text = json.loads(plaintext)["content"]["body"]
        if imported.id != session.id or body_text != state["text"]:
            raise StepFailed(f"restored key does not match: {imported.id} {body_text}")
        return {"version": version, "restored_session": imported.id, "decrypted": body_text}

    async def devices_members_profile():
        alice = state["named"]["alice"]
        devices = expect(await alice.devices(), DevicesResponse, "devices")
        ids = sorted(d.id for d in devices.devices)
        members = expect(
            await alice.joined_members(state["room"]), JoinedMembersResponse, "joined_members"
        )
        names_seen = sorted(m.display_name for m in members.members)
        expect(
            await alice.set_displayname(f"Alice {suffix}"),
            ProfileSetDisplayNameResponse,
            "set_displayname",
        )
        profile = expect(
            await alice.get_profile(state["ids"]["alice"]), ProfileGetResponse, "get_profile"
        )
        if profile.displayname != f"Alice {suffix}":
            raise StepFailed(f"profile not updated: {profile}")
        return {"devices": ids, "member_names": names_seen, "displayname": profile.displayname}

    async def context_and_forget():
        bob = state["named"]["bob"]
        room = state["room"]
        context = expect(
            await bob.room_context(room, state["event_id"], limit=4),
            RoomContextResponse,
            "room_context",
        )
        expect(await bob.room_leave(room), RoomLeaveResponse, "room_leave")
        expect(await bob.room_forget(room), RoomForgetResponse, "room_forget")
        return {
            "context_before": len(context.events_before),
            "context_after": len(context.events_after),
        }

    async def logout():
        result = {}
        for who, client in state["named"].items():
            token = client.access_token
            expect(await client.logout(), LogoutResponse, f"logout {who}")
            # The token no longer works.
            probe = AsyncClient(homeserver, state["ids"][who], config=client_config())
            clients.append(probe)
            probe.access_token = token
            probe.user_id = state["ids"][who]
            refused = expect(await probe.whoami(), WhoamiError, f"whoami after logout {who}")
            result[who] = refused.status_code
        return {"whoami_after_logout": result}

    try:
        for name, action in [
            ("register", register),
            ("login", login),
            ("keys_upload", keys_upload),
            ("create_room", create_room),
            ("invite_and_join", invite_and_join),
            ("keys_query", keys_query),
            ("keys_claim", keys_claim),
            ("send_and_sync", send_and_sync),
            ("messages", messages),
            ("to_device", to_device),
            ("room_keys_backup", room_keys_backup),
            ("devices_members_profile", devices_members_profile),
            ("context_and_forget", context_and_forget),
            ("logout", logout),
        ]:
            await step(name, action)
        return 0
    except StepFailed:
        return 1
    finally:
        for client in clients:
            await client.close()


def main():
    if len(sys.argv) != 2:
        print("usage: driver.py HOMESERVER_URL", file=sys.stderr)
        return 2
    # nio logs through logbook/logging; keep stdout for the step lines.
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    return asyncio.run(run(sys.argv[1]))


if __name__ == "__main__":
    sys.exit(main())
