"""Dojos over REST, the dojo database, and who may enter a dojo's live room.

Entry points: `realtime.app.create_app` (the service), `realtime.dojos.access.DojoRoomAccess`
(`realtime.ports.RoomAccess` for the live rooms), `realtime.dojos.deps.DojoRuntime` (what the
live parts mounted beside the REST routes share with it, in ``app.state.dojos``).
"""
