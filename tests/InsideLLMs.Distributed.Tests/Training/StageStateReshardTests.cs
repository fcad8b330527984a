using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Pipeline;
using InsideLLMs.Distributed.Maths.Training;
using InsideLLMs.Distributed.Tests.Data;

namespace InsideLLMs.Distributed.Tests.Training;

/// <summary>
/// A run's state moved from one pipeline cut to another: the stage states of one layout, read into one model's state
/// by name and cut again, continue exactly where they were.
/// </summary>
public sealed class StageStateReshardTests
{
    private static readonly GptConfig Shape = new() { VocabularySize = 0, BlockSize = 32, LayerCount = 4, HeadCount = 2, EmbeddingSize = 16 };

    [Fact]
    public void OneStage_ReshardedIntoOneStage_IsTheSameBytes()
    {
        var (config, options, data) = Setup();
        using var whole = new StageWorker(config, StageSpec.Whole(config), options);
        Train([whole], data, options, steps: 2);

        var state = whole.SaveState();
        var again = Assert.Single(StageStateReshard.Reshard([state], StageStateReshard.StageNames(config, 1)));

        Assert.Equal(state, again);
    }

    /// <summary>
    /// Two stages trained 3 steps, then cut into one and into four: every new stage loads its part, the parameters are
    /// the old bits, and the next two steps of one whole model and of four chained stages have the loss that the two
    /// stages themselves go on to (within 1e-6) and end with the same weights.
    /// </summary>
    [Theory]
    [InlineData(2, 1)]
    [InlineData(2, 4)]
    [InlineData(1, 2)]
    [InlineData(4, 3)]
    public void StatesOfOneCut_ResumedAtAnother_TakeTheSameNextSteps(int from, int to)
    {
        var (config, options, data) = Setup();
        var old = StageSpec.Partition(config, from).Select(s => new StageWorker(config, s, options)).ToArray();
        var resumed = StageSpec.Partition(config, to).Select(s => new StageWorker(config, s, options)).ToArray();
        try
        {
            Train(old, data, options, steps: 3);
            var states = StageStateReshard.Reshard([.. old.Select(w => w.SaveState())], StageStateReshard.StageNames(config, to));
            for (var s = 0; s < to; s++)
            {
                resumed[s].LoadState(states[s]); // the names, shapes and counts a stage of the new cut has
            }

            var before = Parameters(old);
            Assert.All(Parameters(resumed), p => Assert.Equal(before[p.Key], p.Value)); // bit for bit

            var expected = Train(old, data, options, steps: 2, first: 3);
            var actual = Train(resumed, data, options, steps: 2, first: 3);
            Assert.Equal(expected[0], actual[0], 1e-6);
            Assert.Equal(expected[1], actual[1], 1e-6);
            var after = Parameters(old);
            foreach (var (name, values) in Parameters(resumed))
            {
                var worst = values.Zip(after[name], (a, b) => Math.Abs(a - b)).Max();
                Assert.True(worst < 1e-5, $"{name} differs by {worst} after two more steps");
            }
        }
        finally
        {
            foreach (var worker in old.Concat(resumed))
            {
                worker.Dispose();
            }
        }
    }

    [Fact]
    public void StatesOfDifferentSteps_AreRefused()
    {
        var (config, options, data) = Setup();
        using var first = new StageWorker(config, StageSpec.Partition(config, 2)[0], options);
        using var last = new StageWorker(config, StageSpec.Partition(config, 2)[1], options);
        var early = first.SaveState();
        Train([first, last], data, options, steps: 1);

        var error = Assert.Throws<InvalidDataException>(() => StageStateReshard.Reshard([early, last.SaveState()], StageStateReshard.StageNames(config, 1)));

        Assert.Contains("not of one step", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AStageMissing_IsRefusedNamingWhatTheNewStageNeeds()
    {
        var (config, options, _) = Setup();
        using var first = new StageWorker(config, StageSpec.Partition(config, 2)[0], options);

        var error = Assert.Throws<InvalidDataException>(() => StageStateReshard.Reshard([first.SaveState()], StageStateReshard.StageNames(config, 1)));

        Assert.Contains("needs 'h.2.", error.Message, StringComparison.Ordinal);
    }

    private static (GptConfig Config, TrainingOptions Options, TokenDataset Data) Setup()
    {
        var data = TestData.SmallSynthetic(blockSize: 32);
        return (Shape with { VocabularySize = data.Vocabulary.Count }, new TrainingOptions { Seed = 5, MicroBatches = 2, BatchSize = 3, LearningRate = 3e-3, WarmupSteps = 1 }, data);
    }

    /// <summary>Steps of stages chained by hand (activations forward, gradients back, the tied matrix combined); returns each step's loss.</summary>
    private static double[] Train(StageWorker[] stages, TokenDataset data, TrainingOptions options, int steps, int first = 0)
    {
        var rule = new StepRule(options);
        var losses = new double[steps];
        for (var step = first; step < first + steps; step++)
        {
            foreach (var stage in stages)
            {
                stage.BeginStep();
            }

            double loss = 0;
            for (var micro = 0; micro < options.MicroBatches; micro++)
            {
                var batch = data.TrainBatch(options.Seed, step, micro, replica: 0, options.MicroBatches, options.BatchSize);
                (byte[]? Hidden, long[]? Shape) carried = (null, [batch.BatchSize, batch.BlockSize]);
                for (var s = 0; s < stages.Length; s++)
                {
                    var isLast = s == stages.Length - 1;
                    var result = stages[s].Forward(micro, s == 0 ? batch.Inputs : null, carried.Hidden, carried.Shape!, isLast ? batch.Targets : null);
                    loss += isLast ? result.Loss : 0;
                    carried = (result.Hidden, result.Shape);
                }

                byte[]? gradient = null;
                for (var s = stages.Length - 1; s >= 0; s--)
                {
                    gradient = stages[s].Backward(micro, gradient).Gradient;
                }
            }

            if (stages.Length > 1)
            {
                var firstTied = stages[0].TiedGradient();
                stages[0].CombineTiedGradient(stages[^1].TiedGradient());
                stages[^1].CombineTiedGradient(firstTied);
            }

            var squares = stages.Select((w, s) => w.GradientSumOfSquares(countTiedCopy: s == 0)).Sum();
            var decision = rule.Decide(step, squares, loss);
            foreach (var stage in stages)
            {
                stage.Update(decision.ClipCoefficient, decision.LearningRate);
            }

            losses[step - first] = decision.Loss;
        }

        return losses;
    }

    private static Dictionary<string, float[]> Parameters(StageWorker[] stages) => stages
        .SelectMany(w => w.Parameters())
        .Where(p => p.Name != "lm_head.weight")
        .ToDictionary(p => p.Name, p => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(p.Data).ToArray());
}
