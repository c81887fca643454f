// Build tool plugin: generates the training-method registry of a target (RegisteredMethods.swift) from the types
// its sources declare as conforming to `TrainingMethod`, so adding a method is adding its file (Method.swift).
import PackagePlugin

@main
struct RegisterMethods: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        guard let module = target as? SourceModuleTarget else { return [] }
        let inputs = module.sourceFiles(withSuffix: "swift").map(\.url)
        let output = context.pluginWorkDirectoryURL.appending(path: "RegisteredMethods.swift")
        return [.buildCommand(displayName: "Registering the training methods of \(module.name)",
                              executable: try context.tool(named: "register-methods").url,
                              arguments: [output.path] + inputs.map(\.path),
                              inputFiles: inputs, outputFiles: [output])]
    }
}
