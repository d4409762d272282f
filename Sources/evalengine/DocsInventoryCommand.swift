import ArgumentParser
import EvalCore
import Foundation
import Server

/// What the code has that the docs must describe, as JSON, for scripts/docs-check.py: the config
/// files' fields (the same sets the loaders refuse unknown keys with). Hidden: a tool's tool.
struct DocsInventoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "docs-inventory", abstract: "Print the config fields the docs must describe (JSON).",
                                                    shouldDisplay: false)

    func run() throws {
        let inventory: JSONValue = [
            "service_config": .array(ServiceConfig.fieldPaths.map(JSONValue.string)),
            "endpoint_config": .array(EndpointConfig.knownFields.sorted().map(JSONValue.string)),
            "gate_config": .array(GateConfig.knownFields.sorted().map(JSONValue.string)),
        ]
        print(inventory.serialized(sortedKeys: true))
    }
}
