using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Objectives;
using InsideLLMs.Distributed.Maths.Training;
using InsideLLMs.Distributed.Tests.Data;
using static TorchSharp.torch;

namespace InsideLLMs.Distributed.Tests.Objectives;

/// <summary>The last stage's objectives on numbers small enough to check by hand.</summary>
public sealed class TrainingObjectiveTests
{
    private const long Ignored = GptStage.IgnoreIndex;

    /// <summary>
    /// Logits (1, 3, 2). Position 0 is the prompt (ignored), position 1 has logits (ln 3, 0) and target 0, so
    /// p = 3/4; position 2 has logits (0, 0) and target 1, so p = 1/2. The summed response loss is
    /// −ln(3/4) − ln(1/2) = ln(8/3), over 2 tokens; with 5 response tokens in the whole step the backward tensor is
    /// ln(8/3) / 5 and the logits' gradient is (softmax − one-hot) / 5 on the response positions, zero on the prompt.
    /// </summary>
    [Fact]
    public void ResponseCrossEntropy_HandCheckedExample_ScoresOnlyTheResponseAndDividesByTheStepsTokens()
    {
        using var scope = NewDisposeScope();
        var logits = tensor(new float[] { 5f, -5f, MathF.Log(3), 0f, 0f, 0f }, [1, 3, 2]).requires_grad_(true);
        var targets = new ObjectiveTargets([Ignored, 0, 1], BatchSize: 1, BlockSize: 3, StepTargetCount: 5);

        var term = new ResponseCrossEntropy().Loss(logits, targets);
        term.Backward.backward();

        Assert.Equal(Math.Log(8.0 / 3.0), term.Value, 1e-5);
        Assert.Equal(2, term.Weight);
        Assert.Equal(Math.Log(8.0 / 3.0) / 5, term.Backward.item<float>(), 1e-5);
        var gradient = logits.grad!.data<float>().ToArray();
        float[] expected = [0f, 0f, (0.75f - 1) / 5, 0.25f / 5, 0.5f / 5, (0.5f - 1) / 5];
        Assert.Equal(expected.Length, gradient.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i], gradient[i], 1e-6);
        }
    }

    [Fact]
    public void ResponseCrossEntropy_PromptLogits_ChangeNothing()
    {
        using var scope = NewDisposeScope();
        var targets = new ObjectiveTargets([Ignored, 0, 1], 1, 3, StepTargetCount: 2);
        var a = new ResponseCrossEntropy().Loss(tensor(new float[] { 5f, -5f, 1f, 0f, 0f, 2f }, [1, 3, 2]), targets).Value;
        var b = new ResponseCrossEntropy().Loss(tensor(new float[] { -9f, 9f, 1f, 0f, 0f, 2f }, [1, 3, 2]), targets).Value;

        Assert.Equal(a, b);
    }

    [Theory]
    [InlineData(0, "needs the step's response-token count")]
    [InlineData(1, "more than the 1 its step says it has")]
    public void ResponseCrossEntropy_StepCountMissingOrTooSmall_IsRefused(long stepTargets, string message)
    {
        using var scope = NewDisposeScope();
        var targets = new ObjectiveTargets([Ignored, 0, 1], 1, 3, stepTargets);

        var error = Assert.Throws<ArgumentException>(() => new ResponseCrossEntropy().Loss(zeros(1, 3, 2), targets));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NextTokenCrossEntropy_IsTheMeanLossCountedOnceAndScaledByTheMicroBatches()
    {
        using var scope = NewDisposeScope();
        var logits = tensor(new float[] { 1f, 2f, 0f, 0.5f, -1f, 3f }, [1, 3, 2]);
        var targets = new ObjectiveTargets([0, 1, 1], 1, 3);

        var term = new NextTokenCrossEntropy(microBatchesPerStep: 4).Loss(logits, targets);

        var mean = GptStage.Loss(logits, targets.Tensor()).item<float>();
        Assert.Equal(mean, term.Value);
        Assert.Equal(1, term.Weight);
        Assert.Equal(mean / 4, term.Backward.item<float>(), 1e-6);
    }

    /// <summary>
    /// One SFT step of the same 4 rows cut as 1 x 4, 2 x 2 and 4 x 1 micro-batches: the rows hold different numbers of
    /// response tokens, so a mean per micro-batch would change the loss with the cut; the mean over the step's tokens
    /// must not.
    /// </summary>
    [Fact]
    public void SftStep_CutIntoMoreMicroBatches_HasTheSameLossAndGradientNorm()
    {
        var data = TestData.SmallSynthetic(blockSize: 64);
        var instructions = InstructionDataset.Synthetic(new SyntheticCorpus(7), data.Vocabulary, 64, trainExamples: 64, validationExamples: 8);
        var config = new GptConfig { VocabularySize = data.Vocabulary.Count, BlockSize = 64, LayerCount = 1, HeadCount = 2, EmbeddingSize = 16 };
        StepResult Step(int batchSize, int microBatches)
        {
            var options = new TrainingOptions
            {
                Steps = 1, BatchSize = batchSize, MicroBatches = microBatches, Seed = 3, Threads = 1, Objective = ObjectiveKind.Sft,
            };
            using var trainer = new ReferenceTrainer(config, data, options, instructions);
            return trainer.TrainStep();
        }

        var counts = Enumerable.Range(0, 4)
            .Select(m => instructions.TrainBatch(3, 0, m, 0, 4, 1, 1).TargetCount).ToArray();
        Assert.True(counts.Distinct().Count() > 1, $"the rows must differ in length for this test to mean anything: {string.Join(", ", counts)}");

        var whole = Step(4, 1);
        foreach (var (batch, micro) in new[] { (2, 2), (1, 4) })
        {
            var cut = Step(batch, micro);
            Assert.Equal(whole.Loss, cut.Loss, 1e-5);
            Assert.True(Math.Abs(whole.GradientNorm - cut.GradientNorm) <= 1e-5 * whole.GradientNorm, $"{batch} x {micro}: {cut.GradientNorm} vs {whole.GradientNorm}");
        }
    }
}
