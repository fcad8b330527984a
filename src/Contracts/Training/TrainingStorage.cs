namespace InsideLLMs.Distributed.Contracts.Training;

/// <summary>Names shared by the grains and the silo's configuration.</summary>
public static class TrainingStorage
{
    /// <summary>Grain storage for runs, stage checkpoints and the registry: memory by default, Redis when configured.</summary>
    public const string ProviderName = "training";

    /// <summary>The registry grain's one key.</summary>
    public const string RegistryKey = "default";
}
