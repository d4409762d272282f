import EvalCore

/// Cache keys. Each is the SHA-256 of the canonical JSON (keys sorted by UTF-8 bytes, no
/// whitespace, integral numbers without a fraction, shortest round-trip form otherwise) of:
///
/// * response: `{"v": 1, "kind": "response", "endpoint": {"base_url", "model", "api"}, "body": <the
///   exact request body sent>, "namespace": <repeat namespace, "" by default>}`
/// * embedding: `{"v": 1, "kind": "embedding", "endpoint": {"base_url", "model"}, "text": <text>}`
///
/// The body holds the model, messages and every sampling parameter (temperature, seed, ...), so a
/// change to any of them is a new key. API keys and headers are never part of it: rotating a key
/// keeps the cache.
public enum CacheKeys {
    /// Key of a model response.
    public static func response(endpointIdentity: String, model: String, api: String, body: JSONValue, namespace: String = "") -> [UInt8] {
        let identity: JSONValue = [
            "v": 1, "kind": "response",
            "endpoint": ["base_url": .string(endpointIdentity), "model": .string(model), "api": .string(api)],
            "body": body, "namespace": .string(namespace),
        ]
        return SHA256Digest.hash(identity.canonicalBytes)
    }

    /// The same key from the body's canonical bytes (`JSONValue.canonicalBytes`), for a caller that
    /// sends those very bytes: the identity object is written around them in canonical key order
    /// (body, endpoint, kind, namespace, v), so the key equals `response(body:)`'s.
    public static func response(endpointIdentity: String, model: String, api: String, canonicalBody: [UInt8], namespace: String = "") -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(canonicalBody.count + endpointIdentity.utf8.count + model.utf8.count + namespace.utf8.count + 96)
        out.append(contentsOf: #"{"body":"#.utf8)
        out.append(contentsOf: canonicalBody)
        out.append(contentsOf: #","endpoint":"#.utf8)
        let endpoint: JSONValue = ["base_url": .string(endpointIdentity), "model": .string(model), "api": .string(api)]
        endpoint.write(to: &out, sortedKeys: true)
        out.append(contentsOf: #","kind":"response","namespace":"#.utf8)
        JSONValue.string(namespace).write(to: &out)
        out.append(contentsOf: #","v":1}"#.utf8)
        return SHA256Digest.hash(out)
    }

    /// Key of one text's embedding.
    public static func embedding(endpointIdentity: String, model: String, text: String) -> [UInt8] {
        let identity: JSONValue = [
            "v": 1, "kind": "embedding", "endpoint": ["base_url": .string(endpointIdentity), "model": .string(model)], "text": .string(text),
        ]
        return SHA256Digest.hash(identity.canonicalBytes)
    }
}
