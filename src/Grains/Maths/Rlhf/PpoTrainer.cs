using System.Diagnostics;
using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Objectives;
using InsideLLMs.Distributed.Maths.Pipeline;
using InsideLLMs.Distributed.Maths.Sampling;
using InsideLLMs.Distributed.Maths.Tokenization;
using InsideLLMs.Distributed.Maths.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace InsideLLMs.Distributed.Maths.Rlhf;

/// <summary>
/// PPO on a language model from a reward model, in one process: the policy and the value model train (each a
/// <see cref="StageWorker"/> over the whole model, the code every pipeline stage runs, with the objectives
/// <see cref="PpoPolicyLoss"/> and <see cref="PpoValueLoss"/>); the reference (the policy's starting weights) and the
/// reward model stay frozen. An iteration samples one completion per prompt with a KV cache, scores it, computes per-token
/// rewards, advantages and returns (<see cref="PpoMath"/>), then runs epochs of minibatch updates on both models.
/// </summary>
/// <remarks>
/// A completion's row is the prompt (EOD, instruction, separator) followed by its tokens, the end token included when
/// it was produced; position t's target is token t + 1 where that token belongs to the completion, so the policy's
/// log-probability, the reference's and the value at position t are those of the action taken there. Log-probabilities
/// are recomputed for the whole batch by one forward (as the public implementations do) rather than kept from the
/// sampler, so the first update's ratio is exactly 1. Every random choice is seeded from (seed, iteration, row), so a
/// resumed run (<see cref="SaveState"/>, <see cref="Restore"/>) computes what an uninterrupted one computes.
/// </remarks>
public sealed class PpoTrainer : IDisposable
{
    private const float Temperature = 1f;
    private const long RolloutStream = 0x726F6C6C; // "roll"
    private const long ShuffleStream = 0x73687566; // "shuf"
    private const int StateVersion = 1;

    private readonly StageWorker _policy;
    private readonly StageWorker _value;
    private readonly GptStage _reference;
    private readonly GptStage _reward;
    private readonly StepRule _policyRule;
    private readonly StepRule _valueRule;
    private readonly Func<long, string> _prompts;
    private long _policySteps;
    private long _valueSteps;

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
        if (!reward.ContainsKey("score_head.weight"))
        {
            throw new ArgumentException("The reward model's weights have no score head (score_head.weight): they are a language model's.");
        }

        KlCoefficient = options.KlCoefficient;
        var policyOptions = WorkerOptions(ObjectiveKind.PpoPolicy, options.PolicyLearningRate);
        var valueOptions = WorkerOptions(ObjectiveKind.PpoValue, options.ValueLearningRate);
        _policyRule = new StepRule(policyOptions);
        _valueRule = new StepRule(valueOptions);
        _policy = new StageWorker(config, StageSpec.Whole(config), policyOptions);
        _value = new StageWorker(config, StageSpec.Whole(config), valueOptions);
        _reference = new GptStage(config, StageSpec.Whole(config), options.Seed, StageHead.Language);
        _reward = new GptStage(config, StageSpec.Whole(config), options.Seed, StageHead.Score);
        try
        {
            _policy.LoadInitialParameters(policy);
            _value.LoadInitialParameters(reward);
            Load(_reference, policy);
            Load(_reward, reward);
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

    /// <summary>β now (it moves when <see cref="PpoOptions.KlTarget"/> is set).</summary>
    public double KlCoefficient { get; private set; }

    /// <summary>The policy being trained.</summary>
    public GptStage Policy => _policy.Model;

    /// <summary>The frozen reference: the policy's starting weights.</summary>
    public GptStage Reference => _reference;

    /// <summary>The frozen reward model.</summary>
    public GptStage RewardModel => _reward;

    /// <summary>The value model being trained.</summary>
    public GptStage ValueModel => _value.Model;

    /// <summary>Runs iteration <see cref="Iteration"/>: rollouts, rewards, advantages, then the epochs of updates.</summary>
    public PpoIteration Step()
    {
        torch.set_num_threads(Options.Threads);
        var iteration = Iteration;
        var clock = Stopwatch.StartNew();
        var rollouts = new Rollout[Options.Rollouts];
        for (var row = 0; row < rollouts.Length; row++)
        {
            var instruction = _prompts(((long)iteration * Options.Rollouts) + row);
            var prompt = InstructionDataset.Prompt(instruction, Vocabulary);
            var room = Config.BlockSize - prompt.Length - 1; // the reward model's row closes with one more token
            if (room < 1)
            {
                throw new ArgumentException($"The prompt '{instruction}' takes {prompt.Length} tokens: no room for a completion in a context of {Config.BlockSize}.");
            }

            var (tokens, ended) = Complete(_policy.Model, prompt, DeterministicRandom.Mix(Options.Seed, RolloutStream, iteration, row), Math.Min(Options.MaxCompletionTokens, room));
            rollouts[row] = new Rollout(instruction, prompt, [.. tokens], ended, Vocabulary.DecodeText(tokens.Where(t => t != ModelVocabulary.EndOfDocument)));
        }

        var generation = clock.Elapsed;
        var batch = Rows(rollouts);

        clock.Restart();
        var raw = rollouts.Select(r => RewardScores.Score(_reward, Vocabulary, r.Instruction, [r.Text])[0]).ToArray();
        var normalized = raw.Select(Normalization.Apply).ToArray();
        var scores = rollouts.Select((r, i) => PpoMath.Score(normalized[i], r.Ended, Options.ScoreClip, Options.MissingEndPenalty)).ToArray();
        var rewardTime = clock.Elapsed;

        clock.Restart();
        var oldLogProbs = LogProbabilities(_policy.Model, batch);
        var referenceLogProbs = LogProbabilities(_reference, batch);
        var referenceTime = clock.Elapsed;

        clock.Restart();
        var oldValues = Values(_value.Model, batch);
        var valueTime = clock.Elapsed;

        // Per completion: KL-penalised rewards, GAE; then advantages whitened over every token of the batch.
        var kls = new double[rollouts.Length];
        var gae = new (double[] Advantages, double[] Returns)[rollouts.Length];
        for (var row = 0; row < rollouts.Length; row++)
        {
            var positions = batch.Positions(row);
            var logp = positions.Select(p => (double)oldLogProbs[p]).ToArray();
            var refp = positions.Select(p => (double)referenceLogProbs[p]).ToArray();
            kls[row] = logp.Zip(refp, (a, b) => a - b).Sum();
            var rewards = PpoMath.TokenRewards(logp, refp, scores[row], KlCoefficient);
            gae[row] = PpoMath.Gae(rewards, [.. positions.Select(p => (double)oldValues[p])], Options.Gamma, Options.Lambda);
        }

        var whitened = PpoMath.Whiten([.. gae.Select(g => (IReadOnlyList<double>)g.Advantages)]);
        var advantages = new float[batch.Cells];
        var returns = new float[batch.Cells];
        for (var row = 0; row < rollouts.Length; row++)
        {
            var positions = batch.Positions(row);
            for (var i = 0; i < positions.Length; i++)
            {
                advantages[positions[i]] = (float)whitened[row][i];
                returns[positions[i]] = (float)gae[row].Returns[i];
            }
        }

        var actions = Enumerable.Range(0, rollouts.Length).SelectMany(batch.Positions).ToArray();
        var explained = PpoMath.ExplainedVariance([.. actions.Select(p => (double)oldValues[p])], [.. actions.Select(p => (double)returns[p])]);

        clock.Restart();
        var tally = new UpdateTally();
        var size = (rollouts.Length + Options.MiniBatches - 1) / Options.MiniBatches;
        for (var epoch = 0; epoch < Options.Epochs; epoch++)
        {
            var order = Shuffle(rollouts.Length, DeterministicRandom.Mix(Options.Seed, ShuffleStream, iteration, epoch));
            for (var first = 0; first < order.Length; first += size)
            {
                var rows = order[first..Math.Min(order.Length, first + size)];
                var mini = batch.Select(rows);
                var ppo = new PpoTokens(RolloutRows.Gather(oldLogProbs, rows, batch.BlockSize), RolloutRows.Gather(advantages, rows, batch.BlockSize), RolloutRows.Gather(oldValues, rows, batch.BlockSize), RolloutRows.Gather(returns, rows, batch.BlockSize));
                tally.Add(UpdatePolicy(mini, ppo), UpdateValue(mini, ppo));
            }
        }

        var updateTime = clock.Elapsed;
        var meanKl = kls.Average();
        if (Options.KlTarget is { } target)
        {
            KlCoefficient = PpoMath.AdaptKl(KlCoefficient, meanKl, target, Options.KlHorizon, rollouts.Length);
        }

        Iteration = iteration + 1;
        var rule = rollouts.Select(r => PreferenceRule.Default.Score(r.Instruction, r.Text)).ToArray();
        return new PpoIteration(
            Iteration,
            normalized.Average(),
            scores.Average(),
            rule.Average(),
            meanKl,
            KlCoefficient,
            Enumerable.Range(0, rollouts.Length).Average(i => scores[i] - (KlCoefficient * kls[i])),
            tally.PolicyLoss, tally.ValueLoss, tally.ApproximateKl, tally.ClipFraction, tally.Entropy, explained,
            rollouts.Count(r => r.Ended) / (double)rollouts.Length,
            rollouts.Average(r => r.Tokens.Length),
            new PpoTimes(generation, rewardTime, referenceTime, valueTime, updateTime),
            [.. rollouts.Take(Options.Samples).Select((r, i) => new PpoSample(r.Instruction, r.Text, r.Ended, normalized[i], rule[i], kls[i]))]);
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

    /// <summary>
    /// A completion of <paramref name="prompt"/> sampled at temperature 1 from <paramref name="model"/> with a KV cache:
    /// its tokens (the end token last when it came) and whether it ended within <paramref name="maxTokens"/>.
    /// </summary>
    public static (List<int> Tokens, bool Ended) Complete(GptStage model, IReadOnlyList<int> prompt, long seed, int maxTokens, bool greedy = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(prompt);
        var random = new DeterministicRandom(seed);
        var training = model.training;
        using var cache = new KvCache();
        using var noGrad = no_grad();
        model.eval();
        try
        {
            var tokens = new List<int>();
            var input = prompt.Select(t => (long)t).ToArray();
            for (var i = 0; i < maxTokens && cache.Length + input.Length <= model.Config.BlockSize; i++)
            {
                using var scope = NewDisposeScope();
                var logits = model.Forward(tensor(input, [1, input.Length], dtype: ScalarType.Int64), cache: cache); // (1, T, V)
                var last = logits[0, -1].to(ScalarType.Float32).data<float>().ToArray();
                var id = greedy
                    ? Sampler.Pick(Sampler.Distribution(last, new SamplingOptions(Greedy: true)), 0)
                    : Sampler.Pick(Sampler.Softmax(last, Temperature), random.NextDouble());
                tokens.Add(id);
                if (id == ModelVocabulary.EndOfDocument)
                {
                    return (tokens, true);
                }

                input = [id];
            }

            return (tokens, false);
        }
        finally
        {
            model.train(training);
        }
    }

    /// <summary>The policy's and value model's parameters and optimizer states, β and the iteration reached.</summary>
    public byte[] SaveState()
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream))
        {
            writer.Write(StateVersion);
            writer.Write(Iteration);
            writer.Write(KlCoefficient);
            writer.Write(_policySteps);
            writer.Write(_valueSteps);
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
            var (policySteps, valueSteps) = (reader.ReadInt64(), reader.ReadInt64());
            var policy = reader.ReadBytes(reader.ReadInt32());
            var value = reader.ReadBytes(reader.ReadInt32());
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

            (Iteration, KlCoefficient, _policySteps, _valueSteps) = (iteration, beta, policySteps, valueSteps);
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException("The PPO state is truncated.", e);
        }
    }

    public void Dispose()
    {
        _policy?.Dispose();
        _value?.Dispose();
        _reference?.Dispose();
        _reward?.Dispose();
    }

    private TrainingOptions WorkerOptions(ObjectiveKind objective, double learningRate) => new()
    {
        Objective = objective,
        LearningRate = learningRate,
        MinLearningRate = learningRate,
        WarmupSteps = 0,
        Steps = int.MaxValue,
        DecaySteps = int.MaxValue,
        WeightDecay = 0,
        GradClip = Options.GradClip,
        EvalInterval = 0,
        BatchSize = Options.Rollouts,
        Seed = Options.Seed,
        Threads = Options.Threads,
    };

    private (double Loss, double ClipFraction, double ApproximateKl, double Entropy) UpdatePolicy(RolloutRows mini, PpoTokens ppo)
    {
        _policy.BeginStep();
        var shape = new long[] { mini.BatchSize, Config.BlockSize };
        var targets = new ObjectiveTargets(mini.Targets, mini.BatchSize, Config.BlockSize, mini.Actions) { Ppo = ppo };
        (double ClipFraction, double ApproximateKl, double Entropy) statistics;
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var logits = _policy.Model.Forward(tensor(mini.Inputs, shape, dtype: ScalarType.Int64));
            statistics = new PpoPolicyLoss().Statistics(logits, targets);
        }

        var forward = _policy.Forward(0, mini.Inputs, null, shape, mini.Targets, mini.Actions, ppo);
        _policy.Backward(0, null);
        var decision = _policyRule.Decide(_policySteps, _policy.GradientSumOfSquares(countTiedCopy: true), forward.Loss, forward.LossWeight);
        _policy.Update(decision.ClipCoefficient, decision.LearningRate);
        _policySteps++;
        return (decision.Loss, statistics.ClipFraction, statistics.ApproximateKl, statistics.Entropy);
    }

    private double UpdateValue(RolloutRows mini, PpoTokens ppo)
    {
        _value.BeginStep();
        var forward = _value.Forward(0, mini.Inputs, null, [mini.BatchSize, Config.BlockSize], mini.Targets, mini.Actions, ppo);
        _value.Backward(0, null);
        var decision = _valueRule.Decide(_valueSteps, _value.GradientSumOfSquares(countTiedCopy: false), forward.Loss, forward.LossWeight);
        _value.Update(decision.ClipCoefficient, decision.LearningRate);
        _valueSteps++;
        return decision.Loss;
    }

    /// <summary>log π(target) at temperature 1 at every position (0 where nothing is scored), one forward without a graph.</summary>
    private float[] LogProbabilities(GptStage model, RolloutRows rows)
    {
        var training = model.training;
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        model.eval();
        try
        {
            var logits = model.Forward(tensor(rows.Inputs, [rows.BatchSize, Config.BlockSize], dtype: ScalarType.Int64)); // (B, T, V)
            using var t = ((double)Temperature).ToScalar();
            using var zero = 0.ToScalar();
            var targets = tensor(rows.Targets, [rows.BatchSize, Config.BlockSize], dtype: ScalarType.Int64);
            var scored = targets.ge(zero);
            var taken = nn.functional.log_softmax(logits.div(t), 2).gather(2, targets.clamp_min(zero).unsqueeze(2)).squeeze(2);
            return [.. taken.where(scored, zeros_like(taken)).reshape(-1).to(ScalarType.Float32).data<float>()];
        }
        finally
        {
            model.train(training);
        }
    }

    /// <summary>The value model's output at every position (B × T), one forward without a graph.</summary>
    private float[] Values(GptStage model, RolloutRows rows)
    {
        var training = model.training;
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        model.eval();
        try
        {
            var values = model.Forward(tensor(rows.Inputs, [rows.BatchSize, Config.BlockSize], dtype: ScalarType.Int64)); // (B, T, 1)
            return [.. values.reshape(-1).to(ScalarType.Float32).data<float>()];
        }
        finally
        {
            model.train(training);
        }
    }

    private RolloutRows Rows(Rollout[] rollouts)
    {
        var t = Config.BlockSize;
        var inputs = new long[rollouts.Length * t];
        var targets = new long[rollouts.Length * t];
        Array.Fill(targets, GptStage.IgnoreIndex);
        var first = new int[rollouts.Length];
        var count = new int[rollouts.Length];
        for (var b = 0; b < rollouts.Length; b++)
        {
            var row = rollouts[b].Prompt.Concat(rollouts[b].Tokens).ToArray();
            for (var p = 0; p < t; p++)
            {
                inputs[(b * t) + p] = p < row.Length - 1 ? row[p] : ModelVocabulary.EndOfDocument;
            }

            first[b] = (b * t) + rollouts[b].Prompt.Length - 1;
            count[b] = rollouts[b].Tokens.Length;
            for (var i = 0; i < count[b]; i++)
            {
                targets[first[b] + i] = row[rollouts[b].Prompt.Length + i];
            }
        }

        return new RolloutRows(inputs, targets, rollouts.Length, t, first, count);
    }

    private static int[] Shuffle(int count, long seed)
    {
        var random = new DeterministicRandom(seed);
        var order = Enumerable.Range(0, count).ToArray();
        for (var i = count - 1; i > 0; i--)
        {
            var j = (int)(random.NextUInt64() % (ulong)(i + 1));
            (order[i], order[j]) = (order[j], order[i]);
        }

        return order;
    }

    private static void Load(GptStage model, IReadOnlyDictionary<string, (byte[] Data, long[] Shape)> weights)
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

            parameter.copy_(TensorIO.FromBytes(given.Data, given.Shape));
            parameter.requires_grad_(false);
        }

        model.eval();
    }

    private sealed record Rollout(string Instruction, int[] Prompt, int[] Tokens, bool Ended, string Text);

    /// <summary>A batch of rollout rows (B × T); row b's actions are at flat positions First[b] .. First[b] + Count[b] - 1.</summary>
    private sealed record RolloutRows(long[] Inputs, long[] Targets, int BatchSize, int BlockSize, int[] First, int[] Count)
    {
        public int Cells => BatchSize * BlockSize;

        public long Actions => Count.Sum();

        public int[] Positions(int row) => [.. Enumerable.Range(First[row], Count[row])];

        /// <summary>The rows <paramref name="rows"/> as a batch of their own.</summary>
        public RolloutRows Select(int[] rows)
        {
            var t = BlockSize;
            var inputs = new long[rows.Length * t];
            var targets = new long[rows.Length * t];
            for (var i = 0; i < rows.Length; i++)
            {
                Array.Copy(Inputs, rows[i] * t, inputs, i * t, t);
                Array.Copy(Targets, rows[i] * t, targets, i * t, t);
            }

            return new RolloutRows(
                inputs, targets, rows.Length, t,
                [.. rows.Select((r, i) => First[r] - (r * t) + (i * t))], [.. rows.Select(r => Count[r])]);
        }

        /// <summary>A per-position array of a whole batch cut to its rows <paramref name="rows"/>, in that order.</summary>
        public static float[] Gather(float[] values, int[] rows, int blockSize)
        {
            var result = new float[rows.Length * blockSize];
            for (var i = 0; i < rows.Length; i++)
            {
                Array.Copy(values, rows[i] * blockSize, result, i * blockSize, blockSize);
            }

            return result;
        }
    }

    private sealed class UpdateTally
    {
        private int _count;

        public double PolicyLoss { get; private set; }

        public double ValueLoss { get; private set; }

        public double ClipFraction { get; private set; }

        public double ApproximateKl { get; private set; }

        public double Entropy { get; private set; }

        /// <summary>Keeps running means over the minibatches.</summary>
        public void Add((double Loss, double ClipFraction, double ApproximateKl, double Entropy) policy, double valueLoss)
        {
            _count++;
            PolicyLoss += (policy.Loss - PolicyLoss) / _count;
            ClipFraction += (policy.ClipFraction - ClipFraction) / _count;
            ApproximateKl += (policy.ApproximateKl - ApproximateKl) / _count;
            Entropy += (policy.Entropy - Entropy) / _count;
            ValueLoss += (valueLoss - ValueLoss) / _count;
        }
    }
}

/// <summary>
/// What one PPO iteration did. Scores: the reward model's normalised score of the completions (<paramref name="MeanScore"/>),
/// the score PPO rewards (clipped, less the missing-end penalty), and the preference rule's true score; KL: the mean over
/// completions of Σ (log π − log π_ref) over their tokens; <paramref name="MeanReward"/>: score − β KL. The update's
/// losses and statistics are means over its minibatches.
/// </summary>
public sealed record PpoIteration(
    int Iteration,
    double MeanScore,
    double MeanRewardedScore,
    double MeanRuleScore,
    double MeanKl,
    double KlCoefficient,
    double MeanReward,
    double PolicyLoss,
    double ValueLoss,
    double ApproximateKl,
    double ClipFraction,
    double Entropy,
    double ExplainedVariance,
    double EndedShare,
    double MeanTokens,
    PpoTimes Time,
    IReadOnlyList<PpoSample> Samples);

/// <summary>Where an iteration's time went: sampling, the reward model, the reference's log-probabilities, the values, the updates.</summary>
public sealed record PpoTimes(TimeSpan Generation, TimeSpan Reward, TimeSpan Reference, TimeSpan Value, TimeSpan Update)
{
    public TimeSpan Total => Generation + Reward + Reference + Value + Update;
}

/// <summary>One sampled completion: its prompt, text, whether it ended, the reward model's normalised score, the rule's score, its KL to the reference.</summary>
public sealed record PpoSample(string Prompt, string Completion, bool Ended, double Score, double RuleScore, double Kl);
