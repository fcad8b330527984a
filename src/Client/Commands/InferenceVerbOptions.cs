using System.CommandLine;
using InsideLLMs.Distributed.Client.Cli;
using InsideLLMs.Distributed.Contracts.Inference;

namespace InsideLLMs.Distributed.Client.Commands;

/// <summary>Options shared by <c>generate</c> and <c>inspect</c>: which weights, and how to sample.</summary>
internal sealed class InferenceVerbOptions
{
    public Option<string> Version { get; } = new("--version") { Description = "The published version.", DefaultValueFactory = _ => "base", HelpName = "name" };

    public Option<string?> Live { get; } = new("--live") { Description = "Inspect a run's latest weights instead of a version.", HelpName = "run" };

    public Option<double?> Temperature { get; } = new("--temperature", "-t") { Description = "Divides the logits (default 1)." };

    public Option<int?> TopK { get; } = new("--top-k") { Description = "Keep only the K most likely tokens." };

    public Option<double?> TopP { get; } = new("--top-p") { Description = "Keep the most likely tokens until their probability reaches P, in (0, 1]." };

    public Option<bool> Greedy { get; } = new("--greedy") { Description = "Always take the most likely token." };

    public Option<long?> Seed { get; } = new("--seed") { Description = "Seeds the draws (default 0)." };

    /// <summary>The inspector's key: the version, or live:{run} with --live.</summary>
    public string Source(CliContext cli)
    {
        var live = cli.GetValue(Live);
        if (!string.IsNullOrWhiteSpace(live))
        {
            return InferenceNames.LivePrefix + live.Trim();
        }

        return VersionName(cli);
    }

    public string VersionName(CliContext cli)
    {
        var version = cli.GetValue(Version);
        return InferenceNames.IsValidVersionName(version) ? version! : throw new CliUsageException($"'{version}' is not a version name.");
    }

    public GenerationRequest Request(CliContext cli, string prompt, int maxTokens = 32, string? stop = null) => new(
        prompt, cli.GetValue(Temperature) ?? 1.0, cli.GetValue(TopK), cli.GetValue(TopP), cli.GetValue(Greedy), cli.GetValue(Seed) ?? 0, maxTokens, stop);
}
