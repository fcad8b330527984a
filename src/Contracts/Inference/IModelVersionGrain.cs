using InsideLLMs.Distributed.Contracts.Training;

namespace InsideLLMs.Distributed.Contracts.Inference;

/// <summary>
/// A named, published copy of a run's weights (key: the version name, e.g. <c>base</c>): its parameters, spec,
/// vocabulary and the run's metrics at the moment of publishing, in grain storage. Publishing again replaces it
/// (a new <see cref="ModelVersionInfo.Revision"/>; inference stages reload).
/// </summary>
public interface IModelVersionGrain : IGrainWithStringKey
{
    /// <summary>Copies the run's current parameters. <paramref name="stages"/>: inference pipeline stages (default 2, or 1 for a one-layer model).</summary>
    /// <exception cref="ArgumentException">The name is not a valid version name, the run never started, or the stage count does not fit the layers.</exception>
    Task<ModelVersionInfo> PublishAsync(string runId, int? stages = null);

    /// <summary>
    /// Publishes a PPO run's policy as it is now (the model and corpus of its policy run), recorded as run
    /// <c>ppo:{id}</c> at its iteration, so generation, inspection and ranking tasks can use the aligned model.
    /// </summary>
    /// <exception cref="ArgumentException">A bad version name, or no such PPO run.</exception>
    [ResponseTimeout("00:05:00")]
    Task<ModelVersionInfo> PublishPolicyAsync(string ppoRunId, int? stages = null);

    /// <summary>
    /// A PPO run publishes its policy's weights at iteration <paramref name="iteration"/> (a model of
    /// <paramref name="spec"/>'s shape and corpus) in <paramref name="stages"/> inference stages, through which it then
    /// samples its rollouts (<see cref="InferenceNames.PpoRolloutVersion"/>); recorded as run <c>ppo:{id}</c>.
    /// </summary>
    /// <exception cref="ArgumentException">A bad version name, or weights that are not the spec's model.</exception>
    [ResponseTimeout("00:02:00")]
    Task<ModelVersionInfo> PublishPpoRolloutAsync(string ppoRunId, int iteration, Training.TrainingRunSpec spec, IReadOnlyList<NamedTensor> parameters, int stages);

    /// <exception cref="ArgumentException">Nothing was published under this name.</exception>
    Task<ModelVersionInfo> GetInfoAsync();

    /// <summary>The model vocabulary (<c>ModelVocabulary.Write</c> bytes): model IDs to encoding IDs.</summary>
    Task<byte[]> GetVocabularyAsync();

    /// <summary>Every parameter by name (the tied matrix once, as wte.weight).</summary>
    Task<IReadOnlyList<NamedTensor>> GetParametersAsync();

    /// <summary>The parameters one inference stage holds; a last stage without the embedding gets wte.weight as lm_head.weight.</summary>
    Task<IReadOnlyList<NamedTensor>> GetStageParametersAsync(int stage);
}
