using System.CommandLine;

namespace InsideLLMs.Distributed.Client.Cli;

/// <summary>Options every verb accepts, before or after the verb name.</summary>
internal static class GlobalOptions
{
    public const string JsonName = "--json";

    public static Option<bool> CreateJson() => new(JsonName)
    {
        Description = "Write one JSON document to stdout and nothing else (progress and errors go to stderr).",
        Recursive = true,
    };
}
