namespace InsideLLMs.Distributed.Contracts.Inference;

/// <summary>Grain keys of the inference side.</summary>
public static class InferenceNames
{
    /// <summary>The catalog grain's one key.</summary>
    public const string CatalogKey = "default";

    /// <summary>Inspector keys starting with this read the live run's latest weights: <c>live:{runId}</c>.</summary>
    public const string LivePrefix = "live:";

    /// <summary>The run a version published from a PPO run's policy records: "ppo:{id}".</summary>
    public const string PpoRunPrefix = "ppo:";

    /// <summary>
    /// The version through which a PPO run samples its rollouts, "ppo.{id}": the policy's weights as its stages trained
    /// them, republished after every update, served by the inference pipeline's stage grains like any version.
    /// </summary>
    public static string PpoRolloutVersion(string ppoRunId) => $"ppo.{ppoRunId}";

    public static string StageKey(string version, int stage) => $"{version}/{stage}";

    /// <summary>A generation session: <c>{version}/{session}</c>.</summary>
    public static string SessionKey(string version, string session) => $"{version}/{session}";

    /// <summary>Version names: letters, digits, '.', '-' and '_' (they become parts of grain keys).</summary>
    public static bool IsValidVersionName(string? name) =>
        !string.IsNullOrEmpty(name) && name.Length <= 64 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_');
}
