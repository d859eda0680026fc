"""Pieces shared by the three Meta platforms (WhatsApp Cloud API, Messenger, Instagram).

All three sign webhooks the same way (``X-Hub-Signature-256`` with the Meta app secret), answer the same GET
``hub.*`` handshake, and report failures as Graph API error objects. Messenger and Instagram also share the
``entry[].messaging[]`` webhook shape, parsed by :mod:`souk.platforms.meta.messaging`.
"""
