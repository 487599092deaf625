"""The voice pipeline: a spoken turn as ordered stages, each announced by a start and an end event.

As Home Assistant's ``assist_pipeline`` runs wake word -> speech to text -> intent -> text to speech, a turn at
the kiosk runs through ``firmware_app.events.STAGES``:

=========  ==============================================  ========================  =================================
stage      what happens                                    start event               end event
=========  ==============================================  ========================  =================================
wake       the listening loop waits for a wake word        ``WakeStarted``           ``WakeWordDetected``
capture    one utterance is end-pointed by voice activity  ``ListeningStarted``      ``UtteranceCaptured`` (or
                                                                                     ``NothingHeard``)
stt        its samples, in memory, become words            ``TranscriptionStarted``  ``Transcribed``
dialogue   understanding and dialogue: words -> a reply    ``DialogueStarted``       ``DialogueEnded``
reply      the reply goes to the kiosk's voice             ``ReplyStarted``          ``ReplyEnded``
speech     text to speech, played                          ``SpeechStarted``         ``SpeechEnded``
=========  ==============================================  ========================  =================================

A stage that cannot do its work publishes its ``PipelineError`` (``WakeWordError``, ``SpeechToTextError``,
``DialogueError``, each with a ``code``) and the turn stops there. Everything is published on the kiosk's bus, so
the screen, the logs, the health telemetry and ``kiosk listen`` only listen. The pipeline calls out to one thing:
the ``Conversation`` its dialogue stage talks to (the screen's controller, or a visit without a screen).

- ``pipeline``: the stages in order (``VoicePipeline``), on the listening loop's thread;
- ``recognition``: speech to text (the streaming fast engine and the policy that may escalate to Whisper);
- ``speaking``: the kiosk's voice (reply and speech stages) and barge-in.

Nothing is imported here, so that importing one part does not build the others.
"""
