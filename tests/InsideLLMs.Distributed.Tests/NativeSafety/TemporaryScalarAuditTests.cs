using InsideLLMs.Distributed.Tests.Processes;

namespace InsideLLMs.Distributed.Tests.NativeSafety;

public sealed class TemporaryScalarAuditTests
{
    [Fact]
    public void Sources_GiveLibtorchNoTemporaryScalar()
    {
        var findings = TemporaryScalarAudit.Find(Path.Combine(RepositoryPaths.Root(), "src"));

        Assert.True(findings.Count == 0, $"{findings.Count} places give libtorch a Scalar nobody holds:\n{string.Join("\n", findings)}");
    }

    [Theory]
    [InlineData("t.mul_(1e-8);", "temporary Scalar")]
    [InlineData("t.add_(t);", "without an explicit alpha")]
    [InlineData("var s = t + t;", "goes through add")]
    [InlineData("var s = t * 0.5;", "with a number operand")]
    [InlineData("(t * 0.5).backward();", "with a number operand")]
    [InlineData("var w = t.matmul(t) * (1.0 / System.Math.Sqrt(2));", "with a number operand")]
    [InlineData("var d = t.sum().ToDouble();", "through a temporary Scalar")]
    [InlineData("t.mul_(2.0.ToScalar());", "temporary Scalar passed")]
    public void Audit_OnACodeThatMakesATemporaryScalar_ReportsIt(string statement, string expected)
    {
        var findings = AuditOf(statement);

        Assert.Contains(findings, f => f.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void Audit_OnScalarsTheCallerHolds_ReportsNothing()
    {
        var findings = AuditOf("using var eps = 1e-8.ToScalar(); using var one = 1.ToScalar(); t.add_(eps, one); var s = t.add(t, one); var m = t.mul(t);");

        Assert.Empty(findings);
    }

    private static IReadOnlyList<string> AuditOf(string statement)
    {
        var folder = Directory.CreateTempSubdirectory("scalar-audit-");
        try
        {
            File.WriteAllText(Path.Combine(folder.FullName, "Sample.cs"), $$"""
                using TorchSharp;
                using static TorchSharp.torch;

                public static class Sample
                {
                    public static void Run(Tensor t)
                    {
                        {{statement}}
                    }
                }
                """);
            return TemporaryScalarAudit.Find(folder.FullName);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }
}
