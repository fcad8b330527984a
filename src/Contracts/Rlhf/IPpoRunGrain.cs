namespace InsideLLMs.Distributed.Contracts.Rlhf;

/// <summary>
/// A PPO run (key: its id). It drives the iterations: the rollouts are sampled through the inference pipeline's grains
/// (the policy's weights published as version <c>ppo.{id}</c>), the reference, value and reward grains answer at once,
/// the run computes rewards and advantages, then the policy's and the value model's stage grains update at once. Every
/// <see cref="PpoRunSpec.CheckpointInterval"/> iterations the stage grains save their state to grain storage; a run that
/// lost one of its grains, or its own, resumes from the last checkpoint and computes what an uninterrupted run computes.
/// </summary>
public interface IPpoRunGrain : IGrainWithStringKey
{
    /// <exception cref="ArgumentException">A hyper-parameter out of range, or a source run that is missing, still training, or of the wrong kind.</exception>
    /// <exception cref="InvalidOperationException">The run is already active.</exception>
    [ResponseTimeout("00:05:00")]
    Task<PpoRunStatus> StartAsync(PpoRunSpec spec);

    Task<PpoRunStatus> StopAsync();

    Task<PpoRunStatus> GetStatusAsync();

    /// <summary>Called by every silo's supervisor: an active run whose activation has no loop (it was lost) resumes.</summary>
    Task EnsureRunningAsync();

    /// <summary>
    /// A silo about to leave asks for a checkpoint: the run saves one at the end of the iteration in flight and answers
    /// with its iteration (an idle run answers with its last checkpoint's), so the silo's going loses no completed iteration.
    /// </summary>
    [ResponseTimeout("00:05:00")]
    Task<int> CheckpointNowAsync();

    /// <summary>The policy's parameters now (the tied matrix once, as wte.weight).</summary>
    [ResponseTimeout("00:02:00")]
    Task<IReadOnlyList<Training.NamedTensor>> GetPolicyParametersAsync();
}

/// <summary>
/// One of a PPO run's models (key: <see cref="PpoNames.ModelKey"/>): the policy gives the rollouts' log-probabilities
/// (they are sampled through the inference pipeline's grains); the value model gives values; the reference gives log-probabilities; the reward model scores. The policy and value model
/// are trained on pipeline-stage grains of their own (<see cref="PpoNames.EngineRun"/>), whose weights these copies take
/// after every update. At the start each copies its source run's weights into its own grain storage, so a recovery
/// never depends on the source runs' grains.
/// </summary>
public interface IPpoModelGrain : IGrainWithStringKey
{
    /// <summary>
    /// Loads the model. <paramref name="fresh"/>: from the source run's weights (kept in storage from now on); otherwise
    /// from the kept weights (a trained model then takes its stage grains' weights through <see cref="LoadWeightsAsync"/>).
    /// </summary>
    [ResponseTimeout("00:05:00")]
    Task<string> InitializeAsync(string runId, PpoRole role, PpoRunSpec spec, bool fresh);

    /// <summary>The reward model's raw score of each text as a completion of its instruction.</summary>
    [ResponseTimeout("00:05:00")]
    Task<double[]> ScoreAsync(string[] instructions, string[] texts);

    [ResponseTimeout("00:05:00")]
    Task<float[]> LogProbabilitiesAsync(PpoRowsMessage rows);

    [ResponseTimeout("00:05:00")]
    Task<float[]> ValuesAsync(PpoRowsMessage rows);

    /// <summary>
    /// The policy or value model's copy takes the weights its stage grains trained to (after each iteration's update, and
    /// after a recovery): the model it samples or values with is always the one being trained.
    /// </summary>
    [ResponseTimeout("00:02:00")]
    Task LoadWeightsAsync(IReadOnlyList<Training.NamedTensor> weights);

    [ResponseTimeout("00:02:00")]
    Task<IReadOnlyList<Training.NamedTensor>> GetParametersAsync();

    /// <summary>The silo this activation runs on.</summary>
    Task<string> GetSiloAsync();
}

/// <summary>Rows of completions (B × T): inputs, targets (−100 where nothing is scored), and each row's first action position and action count.</summary>
[GenerateSerializer, Immutable, Alias("PpoRowsMessage")]
public sealed record PpoRowsMessage(
    [property: Id(0)] long[] Inputs,
    [property: Id(1)] long[] Targets,
    [property: Id(2)] int BatchSize,
    [property: Id(3)] int BlockSize,
    [property: Id(4)] int[] First,
    [property: Id(5)] int[] Count);

/// <summary>The rollout's per-token data: old log-probabilities, whitened advantages, old values, returns.</summary>
[GenerateSerializer, Immutable, Alias("PpoTokensMessage")]
public sealed record PpoTokensMessage(
    [property: Id(0)] float[] OldLogProbs,
    [property: Id(1)] float[] Advantages,
    [property: Id(2)] float[] OldValues,
    [property: Id(3)] float[] Returns);
