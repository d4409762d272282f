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

    /// Key of one text's embedding.
    public static func embedding(endpointIdentity: String, model: String, text: String) -> [UInt8] {
        let identity: JSONValue = [
            "v": 1, "kind": "embedding", "endpoint": ["base_url": .string(endpointIdentity), "model": .string(model)], "text": .string(text),
        ]
        return SHA256Digest.hash(identity.canonicalBytes)
    }
}
