"""Each platform's content types: media by URL and by upload (with captions), templates, buttons, lists, quick
replies, quoting and forum topics, checked in the request the platform received."""

from __future__ import annotations

import base64

import httpx
from fastapi import FastAPI

from tests.conftest import TenantFixture
from tests.messaging.outbound.conftest import Fakes, add_inbound, make_channel, make_thread, send, wait_done

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


async def sent(app: FastAPI, tenant: TenantFixture, response: httpx.Response):
    assert response.status_code == 201, response.text
    done = await wait_done(app, tenant, response.json()["id"])
    assert done.outbox.status == "sent", done.outbox.last_error
    return done


async def test_whatsapp_media_template_buttons_and_list(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantFixture, fakes: Fakes
):
    channel = await make_channel(app, tenant, "whatsapp", fakes)
    graph = fakes.graph

    t = await make_thread(app, tenant, fakes, "whatsapp", channel_id=channel)
    await add_inbound(app, t, "wamid.customer-1")
    r = await send(
        client,
        t,
        {
            "type": "image",
            "media": {"url": "https://cdn.example/a.jpg"},
            "caption": "Blue",
            "reply_to": "wamid.customer-1",
        },
    )
    await sent(app, tenant, r)
    (image,) = graph.sent_to(t.thread)
    assert image.body["image"] == {"link": "https://cdn.example/a.jpg", "caption": "Blue"}
    assert image.body["context"] == {"message_id": "wamid.customer-1"}

    t = await make_thread(app, tenant, fakes, "whatsapp", channel_id=channel)
    r = await send(client, t, files={"file": ("shoe.png", PNG, "image/png")}, data={"caption": "Uploaded"})
    done = await sent(app, tenant, r)
    (upload,) = graph.sent_to(t.thread)
    media_id = upload.body["image"]["id"]
    assert graph.media[media_id].data == PNG and upload.body["image"]["caption"] == "Uploaded"
    assert done.outbox.platform_media_id == media_id
    assert r.json()["message_type"] == "image" and r.json()["message_metadata"]["media"]["size"] == len(PNG)

    t = await make_thread(app, tenant, fakes, "whatsapp", channel_id=channel)
    template = {
        "name": "order_update",
        "language": "en_US",
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "#123"}]}],
    }
    await sent(app, tenant, await send(client, t, {"template": template}))
    (tpl,) = graph.sent_to(t.thread)
    assert tpl.body["type"] == "template" and tpl.body["template"]["name"] == "order_update"
    assert tpl.body["template"]["components"][0]["parameters"][0]["text"] == "#123"

    t = await make_thread(app, tenant, fakes, "whatsapp", channel_id=channel)
    buttons = [{"id": "m", "title": "M"}, {"id": "l", "title": "L"}]
    await sent(app, tenant, await send(client, t, {"text": "Which size?", "buttons": buttons}))
    (btn,) = graph.sent_to(t.thread)
    assert btn.body["interactive"]["type"] == "button"
    assert [b["reply"]["id"] for b in btn.body["interactive"]["action"]["buttons"]] == ["m", "l"]

    t = await make_thread(app, tenant, fakes, "whatsapp", channel_id=channel)
    menu = {"button": "Choose", "sections": [{"title": "Sizes", "rows": [{"id": "s", "title": "Small"}]}]}
    r = await send(client, t, {"text": "Pick one", "list": menu})
    await sent(app, tenant, r)
    assert r.json()["message_type"] == "interactive"
    (lst,) = graph.sent_to(t.thread)
    assert lst.body["interactive"]["action"]["sections"][0]["rows"][0]["id"] == "s"


async def test_telegram_uploads_keyboards_quotes_and_topics(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantFixture, fakes: Fakes
):
    tg = fakes.telegram
    channel = await make_channel(app, tenant, "telegram", fakes)

    t = await make_thread(app, tenant, fakes, "telegram", channel_id=channel)
    r = await send(client, t, files={"file": ("shoe.png", PNG, "image/png")}, data={"caption": "Here it is"})
    done = await sent(app, tenant, r)
    (photo,) = tg.messages_in(t.thread)
    assert photo["caption"] == "Here it is" and photo["photo"]
    assert done.message.external_id == f"{t.thread}:{photo['message_id']}"

    t = await make_thread(app, tenant, fakes, "telegram", channel_id=channel)
    doc = {"type": "document", "media": {"url": "https://cdn.example/catalog.pdf"}, "caption": "Catalog"}
    await sent(app, tenant, await send(client, t, doc))
    assert tg.messages_in(t.thread)[0]["document"]

    t = await make_thread(app, tenant, fakes, "telegram", channel_id=channel)
    buttons = [{"id": "buy:42", "title": "Buy"}, {"url": "https://shop.example/42", "title": "Open"}]
    await sent(app, tenant, await send(client, t, {"text": "Want it?", "buttons": buttons}))
    request = next(r for r in tg.requests if r.json and str(r.json.get("chat_id")) == t.thread)
    assert request.json["reply_markup"]["inline_keyboard"] == [
        [{"text": "Buy", "callback_data": "buy:42"}],
        [{"text": "Open", "url": "https://shop.example/42"}],
    ]

    t = await make_thread(app, tenant, fakes, "telegram", channel_id=channel)
    await sent(app, tenant, await send(client, t, {"text": "Size?", "quick_replies": [{"title": "M"}, {"title": "L"}]}))
    request = next(r for r in tg.requests if r.json and str(r.json.get("chat_id")) == t.thread)
    assert request.json["reply_markup"]["keyboard"] == [[{"text": "M"}], [{"text": "L"}]]

    group = {"id": "x", "title": "Shop forum", "topic_id": "7", "participant": "1"}
    t = await make_thread(app, tenant, fakes, "telegram", channel_id=channel, group=group)
    await add_inbound(app, t, f"{t.thread}:55", message_thread_id=7)
    await sent(app, tenant, await send(client, t, {"text": "In the topic", "reply_to": f"{t.thread}:55"}))
    (posted,) = tg.messages_in(t.thread)
    assert posted["message_thread_id"] == 7 and posted["reply_to_message"]["message_id"] == 55


async def test_messenger_and_instagram_attachments_quick_replies_and_buttons(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantFixture, fakes: Fakes
):
    graph = fakes.graph
    t = await make_thread(app, tenant, fakes, "messenger")
    options = [{"title": "M", "payload": "SIZE_M"}, {"title": "L"}]
    await sent(app, tenant, await send(client, t, {"text": "Size?", "quick_replies": options}))
    (qr,) = graph.sent_to(t.thread)
    assert qr.body["message"]["quick_replies"][0] == {"content_type": "text", "title": "M", "payload": "SIZE_M"}

    t = await make_thread(app, tenant, fakes, "messenger", channel_id=t.channel_id)
    buttons = [{"id": "BUY_42", "title": "Buy"}, {"url": "https://shop.example", "title": "Shop"}]
    await sent(app, tenant, await send(client, t, {"text": "Deal", "buttons": buttons}))
    (tpl,) = graph.sent_to(t.thread)
    assert tpl.body["message"]["attachment"]["payload"]["template_type"] == "button"

    t = await make_thread(app, tenant, fakes, "messenger", channel_id=t.channel_id)
    done = await sent(app, tenant, await send(client, t, files={"file": ("shoe.png", PNG, "image/png")}))
    (upload,) = graph.sent_to(t.thread)
    attachment_id = upload.body["message"]["attachment"]["payload"]["attachment_id"]
    assert upload.body["message"]["attachment"]["type"] == "image"
    assert graph.media[attachment_id].data == PNG and done.outbox.platform_media_id == attachment_id

    # a customer who wrote in a comment under a post is answered privately, to the comment
    t = await make_thread(app, tenant, fakes, "messenger", channel_id=t.channel_id)
    comment = f"{t.thread}_5678"  # the fake is shared by both databases' runs
    await add_inbound(app, t, comment, "How much is it?", comment_id=comment)
    done = await sent(app, tenant, await send(client, t, {"text": "199 EGP, shall I keep one for you?"}))
    (private,) = graph.sent_to(f"comment:{comment}")
    assert private.body["recipient"] == {"comment_id": comment} and done.message.recipient_id == f"comment:{comment}"

    t = await make_thread(app, tenant, fakes, "instagram")
    await sent(app, tenant, await send(client, t, {"type": "image", "media": {"url": "https://cdn.example/b.jpg"}}))
    (image,) = graph.sent_to(t.thread)
    assert image.body["message"]["attachment"] == {
        "type": "image",
        "payload": {"url": "https://cdn.example/b.jpg", "is_reusable": True},
    }
    assert image.body["message"]["metadata"].startswith("souk:")


async def test_waha_tiktok_and_chotot_media(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantFixture, fakes: Fakes
):
    t = await make_thread(app, tenant, fakes, "waha")
    await add_inbound(app, t, f"false_{t.thread}_3EB0AAAA")
    r = await send(
        client,
        t,
        files={"file": ("shoe.png", PNG, "image/png")},
        data={"caption": "Photo", "reply_to": f"false_{t.thread}_3EB0AAAA"},
    )
    done = await sent(app, tenant, r)
    (image,) = [m for m in fakes.waha.sent if m["to"] == t.thread]
    assert image["_endpoint"] == "sendImage" and image["body"] == "Photo" and image["replyTo"]["id"] == "3EB0AAAA"
    assert done.message.external_id == image["id"]

    t = await make_thread(app, tenant, fakes, "waha", channel_id=t.channel_id)
    doc = {"type": "document", "media": {"url": "https://cdn.example/c.pdf", "filename": "c.pdf"}}
    await sent(app, tenant, await send(client, t, doc))
    assert [m["_endpoint"] for m in fakes.waha.sent if m["to"] == t.thread] == ["sendFile"]

    t = await make_thread(app, tenant, fakes, "tiktok")
    await sent(app, tenant, await send(client, t, files={"file": ("p.png", PNG, "image/png")}))
    (img,) = fakes.tiktok.messages_in(t.thread)
    assert img["message_type"] == "IMAGE" and fakes.tiktok.media[img["image"]["media_id"]][1] == PNG

    t = await make_thread(app, tenant, fakes, "tiktok", channel_id=t.channel_id)
    hosted = fakes.tiktok.add_media(PNG, "image/png")
    await sent(
        app,
        tenant,
        await send(client, t, {"type": "image", "media": {"url": f"{fakes.tiktok.url}/fake-media/{hosted}"}}),
    )
    assert fakes.tiktok.messages_in(t.thread)[0]["message_type"] == "IMAGE"

    t = await make_thread(app, tenant, fakes, "chotot")
    body = {"type": "image", "media": {"url": "https://cdn.example/d.jpg", "mime_type": "image/jpeg"}, "caption": "Ảnh"}
    await sent(app, tenant, await send(client, t, body))
    (msg,) = [m for m in fakes.chotot.sent if m["chat_id"] == t.thread]
    assert msg["text"] == "Ảnh" and msg["attachments"] == [
        {"type": "image", "url": "https://cdn.example/d.jpg", "mime_type": "image/jpeg"}
    ]
