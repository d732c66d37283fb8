-- wrk script: the same enqueue request relaylink sends, as fast as the server answers (the ceiling).
wrk.method = "POST"
wrk.path = "/api/devices/0102030405060708/queue"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Grpc-Metadata-Authorization"] = "Bearer bench-key"
wrk.body = '{"queueItem":{"confirmed":true,"fPort":5,"data":"AQUAAAAAzco="},"flushQueue":false}'
