using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace InsideLLMs.Distributed.Grains.Hosting;

/// <summary>How ranking tasks are made (<c>Rlhf:TaskLifetimeMinutes</c>, <c>Rlhf:MaxCompletionTokens</c>, <c>Rlhf:RankingTemperature</c>, <c>Rlhf:PolicyVersion</c>) and which runs the page shows (<c>Rlhf:RewardRun</c>, <c>Rlhf:PpoRun</c>).</summary>
public sealed class RlhfOptions
{
    /// <summary>A task older than this refuses rankings (its completions came from a policy that has moved on).</summary>
    public TimeSpan TaskLifetime { get; init; } = TimeSpan.FromMinutes(60);

    /// <summary>A completion ends at the end-of-document token, the context, or this many tokens.</summary>
    public int MaxCompletionTokens { get; init; } = 24;

    /// <summary>
    /// The temperature ranking tasks' completions are sampled at. Above 1 the K completions differ more, so the
    /// annotators' orders tie less and tell a reward model more (measured by the benchmarks' reward suite).
    /// </summary>
    public double RankingTemperature { get; init; } = 1.5;

    /// <summary>The version completions are sampled from when a request names none: the current policy.</summary>
    public string PolicyVersion { get; init; } = "base";

    /// <summary>The reward run whose model the page scores ranked tasks with (a run with objective <c>reward</c>).</summary>
    public string RewardRun { get; init; } = "reward";

    /// <summary>The PPO run the page follows in section 08.</summary>
    public string PpoRun { get; init; } = "ppo";

    /// <summary>The versions section 08 asks the same instruction of, side by side: the base model, SFT, the PPO policy.</summary>
    public IReadOnlyList<string> CompareVersions { get; init; } = ["base", "sft", "assistant"];

    /// <exception cref="ArgumentException">A setting that is not a valid value, named with what it got.</exception>
    public static RlhfOptions From(IConfiguration? configuration)
    {
        var defaults = new RlhfOptions();
        if (configuration is null)
        {
            return defaults;
        }

        return new RlhfOptions
        {
            TaskLifetime = configuration["Rlhf:TaskLifetimeMinutes"] is { Length: > 0 } minutes
                ? TimeSpan.FromMinutes(Positive("Rlhf:TaskLifetimeMinutes", minutes))
                : defaults.TaskLifetime,
            MaxCompletionTokens = configuration["Rlhf:MaxCompletionTokens"] is { Length: > 0 } tokens
                ? (int)Positive("Rlhf:MaxCompletionTokens", tokens)
                : defaults.MaxCompletionTokens,
            RankingTemperature = configuration["Rlhf:RankingTemperature"] is { Length: > 0 } temperature
                ? AtMost("Rlhf:RankingTemperature", Positive("Rlhf:RankingTemperature", temperature), 5)
                : defaults.RankingTemperature,
            PolicyVersion = configuration["Rlhf:PolicyVersion"] is { Length: > 0 } version ? version : defaults.PolicyVersion,
            RewardRun = configuration["Rlhf:RewardRun"] is { Length: > 0 } reward ? reward : defaults.RewardRun,
            PpoRun = configuration["Rlhf:PpoRun"] is { Length: > 0 } ppo ? ppo : defaults.PpoRun,
            CompareVersions = configuration["Rlhf:CompareVersions"] is { Length: > 0 } versions
                ? [.. versions.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)]
                : defaults.CompareVersions,
        };
    }

    private static double AtMost(string key, double value, double most) =>
        value <= most ? value : throw new ArgumentException($"{key} must be at most {most.ToString(CultureInfo.InvariantCulture)}; got {value.ToString(CultureInfo.InvariantCulture)}.");

    private static double Positive(string key, string text) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value > 0 && value <= 1_000_000
            ? value
            : throw new ArgumentException($"{key} must be a number above zero; got '{text}'.");
}
