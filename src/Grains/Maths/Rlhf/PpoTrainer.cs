using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Objectives;
using InsideLLMs.Distributed.Maths.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace InsideLLMs.Distributed.Maths.Rlhf;

/// <summary>
/// PPO on a language model from a reward model, in one process: the policy and the value model train
/// (<see cref="PpoLearner"/>s: the code every pipeline stage runs, with PPO's objectives); the reference (the policy's
/// starting weights) and the reward model stay frozen. Each iteration is <see cref="PpoLoop.StepAsync"/>, the code the
/// cluster's PPO runs with the four models as grains on different silos; every random choice is seeded from
/// (seed, iteration, row), so a resumed run (<see cref="SaveState"/>, <see cref="Restore"/>) computes what an
/// uninterrupted one computes.
/// </summary>
public sealed class PpoTrainer : IPpoModels, IDisposable
{
    private const int StateVersion = 2;

    private readonly PpoLearner _policy;
    private readonly PpoLearner _value;
    private readonly GptStage _reference;
    private readonly GptStage _reward;
    private readonly Func<long, string> _prompts;

    /// <param name="policy">The policy's starting weights (the SFT model): the reference keeps them.</param>
    /// <param name="reward">The reward model's weights (backbone and score head): the value model starts from them.</param>
    /// <param name="normalization">The reward model's normalisation of raw scores (mean and deviation on the SFT policy's samples).</param>
    /// <param name="prompts">The instruction of rollout n (iteration × rollouts + row).</param>
    public PpoTrainer(
        GptConfig config,
        ModelVocabulary vocabulary,
        PpoOptions options,
        IReadOnlyDictionary<string, (byte[] Data, long[] Shape)> policy,
        IReadOnlyDictionary<string, (byte[] Data, long[] Shape)> reward,
        ScoreNormalization normalization,
        Func<long, string> prompts)
    {
        Config = (config ?? throw new ArgumentNullException(nameof(config))).Validate();
        Vocabulary = vocabulary ?? throw new ArgumentNullException(nameof(vocabulary));
        Options = (options ?? throw new ArgumentNullException(nameof(options))).Validate();
        Normalization = normalization ?? throw new ArgumentNullException(nameof(normalization));
        _prompts = prompts ?? throw new ArgumentNullException(nameof(prompts));
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(reward);
        CheckRewardWeights(reward);
        KlCoefficient = options.KlCoefficient;
        try
        {
            _policy = new PpoLearner(config, ObjectiveKind.PpoPolicy, options, policy);
            _value = new PpoLearner(config, ObjectiveKind.PpoValue, options, reward);
            _reference = Frozen(config, StageHead.Language, policy, options.Seed);
            _reward = Frozen(config, StageHead.Score, reward, options.Seed);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public GptConfig Config { get; }

    public ModelVocabulary Vocabulary { get; }

    public PpoOptions Options { get; }

    public ScoreNormalization Normalization { get; }

    /// <summary>Iterations completed; the next one has this 0-based index.</summary>
    public int Iteration { get; private set; }

    /// <summary>β for the next iteration (it moves when <see cref="PpoOptions.KlTarget"/> is set).</summary>
    public double KlCoefficient { get; private set; }

    /// <summary>The policy being trained.</summary>
    public GptStage Policy => _policy.Model;

    /// <summary>The frozen reference: the policy's starting weights.</summary>
    public GptStage Reference => _reference;

    /// <summary>The value model being trained.</summary>
    public GptStage ValueModel => _value.Model;

    /// <summary>Runs iteration <see cref="Iteration"/> (<see cref="PpoLoop.StepAsync"/>; every call here completes at once).</summary>
    public PpoIteration Step()
    {
        torch.set_num_threads(Options.Threads);
        var result = PpoLoop.StepAsync(this, Options, Normalization, Iteration, KlCoefficient).GetAwaiter().GetResult();
        (Iteration, KlCoefficient) = (result.Iteration, result.KlCoefficient);
        return result;
    }

    /// <summary>Runs iterations until <see cref="PpoOptions.Iterations"/> are done, reporting each.</summary>
    public IReadOnlyList<PpoIteration> Run(IProgress<PpoIteration>? progress = null, CancellationToken cancellationToken = default)
    {
        var history = new List<PpoIteration>();
        while (Iteration < Options.Iterations)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var result = Step();
            history.Add(result);
            progress?.Report(result);
        }

        return history;
    }

    /// <summary>The policy's and the value model's states, β and the iteration reached.</summary>
    public byte[] SaveState()
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream))
        {
            writer.Write(StateVersion);
            writer.Write(Iteration);
            writer.Write(KlCoefficient);
            foreach (var state in new[] { _policy.SaveState(), _value.SaveState() })
            {
                writer.Write(state.Length);
                writer.Write(state);
            }
        }

        return stream.ToArray();
    }

    /// <summary>Continues from <see cref="SaveState"/>'s bytes.</summary>
    /// <exception cref="InvalidDataException">The bytes are not a PPO state of this model; nothing changes.</exception>
    public void Restore(byte[] state)
    {
        ArgumentNullException.ThrowIfNull(state);
        try
        {
            using var reader = new BinaryReader(new MemoryStream(state));
            if (reader.ReadInt32() != StateVersion)
            {
                throw new InvalidDataException("This is not a PPO state of this version.");
            }

            var iteration = reader.ReadInt32();
            var beta = reader.ReadDouble();
            var policy = Read(reader);
            var value = Read(reader);
            var before = _policy.SaveState();
            _policy.LoadState(policy);
            try
            {
                _value.LoadState(value);
            }
            catch
            {
                _policy.LoadState(before);
                throw;
            }

            (Iteration, KlCoefficient) = (iteration, beta);
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException("The PPO state is truncated.", e);
        }
    }

    Task<PpoRollouts> IPpoModels.SampleAsync(int iteration) =>
        Task.FromResult(PpoModels.Sample(_policy.Model, Vocabulary, Options, _prompts, iteration));

    Task<float[]> IPpoModels.ReferenceLogProbabilitiesAsync(PpoRows rows) => Task.FromResult(PpoModels.LogProbabilities(_reference, rows));

    Task<float[]> IPpoModels.ValuesAsync(PpoRows rows) => Task.FromResult(PpoModels.Values(_value.Model, rows));

    Task<double[]> IPpoModels.ScoresAsync(IReadOnlyList<string> instructions, IReadOnlyList<string> texts) =>
        Task.FromResult(instructions.Select((instruction, i) => RewardScores.Score(_reward, Vocabulary, instruction, [texts[i]])[0]).ToArray());

    Task<IReadOnlyList<PpoUpdateStatistics>> IPpoModels.UpdatePolicyAsync(PpoRows rows, PpoTokens tokens, IReadOnlyList<int[]> minibatches) =>
        Task.FromResult(_policy.Update(rows, tokens, minibatches));

    Task<IReadOnlyList<PpoUpdateStatistics>> IPpoModels.UpdateValueAsync(PpoRows rows, PpoTokens tokens, IReadOnlyList<int[]> minibatches) =>
        Task.FromResult(_value.Update(rows, tokens, minibatches));

    public void Dispose()
    {
        _policy?.Dispose();
        _value?.Dispose();
        _reference?.Dispose();
        _reward?.Dispose();
    }

    /// <exception cref="ArgumentException">The weights are a language model's (no score head).</exception>
    public static void CheckRewardWeights(IReadOnlyDictionary<string, (byte[] Data, long[] Shape)> reward)
    {
        ArgumentNullException.ThrowIfNull(reward);
        if (!reward.ContainsKey("score_head.weight"))
        {
            throw new ArgumentException("The reward model's weights have no score head (score_head.weight): they are a language model's.");
        }
    }

    /// <summary>A whole model with <paramref name="weights"/> that never trains: no gradients, evaluation mode.</summary>
    public static GptStage Frozen(GptConfig config, StageHead head, IReadOnlyDictionary<string, (byte[] Data, long[] Shape)> weights, long seed)
    {
        ArgumentNullException.ThrowIfNull(weights);
        var model = new GptStage(config, StageSpec.Whole(config), seed, head);
        try
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            foreach (var (name, parameter) in model.named_parameters())
            {
                var source = name == "lm_head.weight" ? "wte.weight" : name;
                if (!weights.TryGetValue(source, out var given) || !given.Shape.SequenceEqual(parameter.shape))
                {
                    throw new InvalidDataException($"The weights have no {source} of shape ({string.Join(", ", parameter.shape)}).");
                }

                parameter.copy_(Model.TensorIO.FromBytes(given.Data, given.Shape));
                parameter.requires_grad_(false);
            }

            model.eval();
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    private static byte[] Read(BinaryReader reader)
    {
        var length = reader.ReadInt32();
        var bytes = reader.ReadBytes(length);
        return bytes.Length == length ? bytes : throw new InvalidDataException("The PPO state is truncated.");
    }
}
